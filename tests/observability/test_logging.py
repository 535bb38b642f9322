"""Logs: one JSON format (python-json-logger) for the web, the workers and gunicorn's access log;
``extra=`` fields kept; errors also written to DOCPROC_LOG_DIR/errors.log; HTTP request metrics."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_extra_fields_and_ids_are_kept():
    from docproc.logging import JsonFormatter, document_id_var, request_id_var

    record = logging.LogRecord("docproc.test", logging.WARNING, __file__, 1, "stage %s slow", ("ocr",), None)
    record.seconds = 12.5
    record.page = 3
    t1, t2 = request_id_var.set("req-1"), document_id_var.set("doc-9")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(t1)
        document_id_var.reset(t2)
    assert line["message"] == "stage ocr slow" and line["level"] == "WARNING" and line["logger"] == "docproc.test"
    assert line["seconds"] == 12.5 and line["page"] == 3
    assert line["request_id"] == "req-1" and line["document_id"] == "doc-9" and "time" in line


def test_errors_go_to_the_console_and_a_file(tmp_path, capsys):
    from logging.config import dictConfig

    from docproc.logging import logging_config

    config = logging_config(level="INFO", log_dir=str(tmp_path))
    config["disable_existing_loggers"] = False
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        dictConfig(config)
        logging.getLogger("docproc.x").info("fine")
        logging.getLogger("docproc.x").error("broken", extra={"code": "boom"})
        for h in logging.getLogger().handlers:
            h.flush()
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:], root.level = saved
    lines = [json.loads(x) for x in (tmp_path / "errors.log").read_text().splitlines()]
    assert [x["message"] for x in lines] == ["broken"] and lines[0]["code"] == "boom"
    assert "broken" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_gunicorn_access_log_is_json(tmp_path):
    port = _free_port()
    env = dict(os.environ, DOCPROC_BIND=f"127.0.0.1:{port}", DOCPROC_WEB_WORKERS="1", DOCPROC_DATA_DIR=str(tmp_path),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    out = (tmp_path / "gunicorn.out").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:docproc.gunicorn_conf", "docproc.wsgi"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-42"})
                assert urllib.request.urlopen(req, timeout=2).status == 200
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    lines = [json.loads(x) for x in (tmp_path / "gunicorn.out").read_text().splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "gunicorn.access"]
    assert access, (tmp_path / "gunicorn.out").read_text()
    hit = access[0]
    assert hit["method"] == "GET" and hit["path"] == "/healthz" and hit["status"] == 200
    assert hit["request_id"] == "probe-42" and isinstance(hit["duration_ms"], int)
    assert any(x["logger"] == "gunicorn.error" for x in lines)  # gunicorn's own messages: the same format


@pytest.mark.django_db
def test_http_request_metrics_are_served(client, settings):
    settings.DOCPROC_METRICS_TOKEN = "scrape-me"
    client.get("/healthz")
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert "django_http_requests_total_by_view_transport_method_total" in body
    assert "django_http_responses_total_by_status_total" in body
    assert "docproc_" in body
