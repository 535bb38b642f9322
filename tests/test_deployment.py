"""The deployment files, parsed (Docker does not run in the test environment): one health check
per service that fits what it serves, restarts, no default secrets, one beat, task events from the
workers, a GPU variant behind a profile, and a .dockerignore that keeps local data out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = ("web", "worker-cpu", "worker-ocr", "worker-gpu", "worker-cuda", "beat", "redis", "postgres")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _check(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_every_long_running_service_restarts_and_has_its_own_health_check(services):
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
        assert "healthcheck" in services[name], name
    assert "/healthz" in _check(services["web"])
    for name in ("worker-cpu", "worker-ocr", "worker-gpu", "worker-cuda"):
        assert "inspect ping" in _check(services[name]) and "/healthz" not in _check(services[name]), name
    assert "celerybeat-schedule" in _check(services["beat"])
    assert services["migrate"]["restart"] == "no"


def test_the_image_declares_no_health_check_the_workers_would_inherit():
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        lines = [ln for ln in (ROOT / dockerfile).read_text().splitlines() if not ln.lstrip().startswith("#")]
        assert not any(ln.strip().upper().startswith("HEALTHCHECK") for ln in lines), dockerfile


def test_no_default_secrets(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("DOCPROC_SECRET_KEY", "POSTGRES_PASSWORD"):
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        assert all(u.startswith(":?") for u in uses), f"{name} must be required, not defaulted: {uses}"
    assert "change-me" not in text and "docproc:docproc@" not in text
    pg = compose["services"]["postgres"]["environment"]
    assert pg["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_exactly_one_beat_and_workers_send_task_events(services):
    beats = [n for n, s in services.items() if re.search(r"celery .*\bbeat\b", _command(s))]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    workers = [n for n, s in services.items() if re.search(r"celery .*\bworker\b", _command(s))]
    assert sorted(workers) == ["worker-cpu", "worker-cuda", "worker-gpu", "worker-ocr"]
    for name in workers:
        cmd = _command(services[name]).split()
        assert "-E" in cmd or "--task-events" in cmd, name
        assert "-B" not in cmd and "--beat" not in cmd, name


def test_every_queue_has_a_worker_that_says_it_consumes_it(services):
    """Each Celery queue is consumed by a worker started with a plain ``up``, and each worker's
    DOCPROC_WORKER_QUEUES (what it loads its models for) is the -Q it consumes."""
    from docproc.celery import app

    consumed = set()
    for name, service in services.items():
        cmd = _command(service).split()
        if "worker" not in cmd or "celery" not in cmd:
            continue
        queues = cmd[cmd.index("-Q") + 1]
        assert service["environment"]["DOCPROC_WORKER_QUEUES"] == queues, name
        if "profiles" not in service:
            consumed |= set(queues.split(","))
    assert consumed == {q.name for q in app.conf.task_queues}


def test_gpu_worker_variant_behind_the_gpu_profile(services):
    cuda = services["worker-cuda"]
    assert cuda["profiles"] == ["gpu"]
    assert cuda["build"]["dockerfile"] == "Dockerfile.gpu"
    devices = cuda["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert cuda["environment"]["DOCPROC_DEVICE"] == "cuda"
    gpu = (ROOT / "Dockerfile.gpu").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+", gpu, re.M)
    assert "onnxruntime-gpu" in gpu and "xllamacpp" in gpu
    for name, service in services.items():
        if name != "worker-cuda":
            assert "profiles" not in service, name  # everything else starts with a plain `up`


def test_dockerignore_keeps_local_state_out_of_the_image():
    entries = {ln.strip().strip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")}
    assert {"data", ".venv", ".git"} <= entries


def test_containers_and_scripts_set_a_umask():
    assert "umask 027" in (ROOT / "scripts" / "entrypoint").read_text()
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        assert 'ENTRYPOINT ["/app/scripts/entrypoint"]' in (ROOT / dockerfile).read_text()
    for script in ("install", "run", "test"):
        assert re.search(r"^umask 0[27]7$", (ROOT / "scripts" / script).read_text(), re.M), script
