"""The service as real processes on this machine, for fault tests and the load bench: a private
``redis-server`` on a free loopback port, Celery workers and gunicorn, all sharing one database
and media folder. Every process is started in its own session so that it (and its children) can
be killed as a group; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def _stop(proc: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class RedisServer:
    """A private Redis without persistence: a restart loses every queued message, like a broker
    that crashed before writing them."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    db: int = 0
    host: str = "127.0.0.1"

    @classmethod
    def running_at(cls, url: str, folder: Path) -> RedisServer:
        """A Redis already running at ``url`` (its host, port and database number kept): every
        process of the stack, and the stack's own checks, use that URL."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path.strip("/")
        return cls(folder, port=parts.port or 6379, db=int(path) if path.isdigit() else 0,
                   host=parts.hostname or "127.0.0.1")

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (Debian package redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("a")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_until(self.ping, timeout=15, what="redis-server ready")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except Exception:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            _stop(self.proc, sig=signal.SIGKILL)

    def restart(self, *, down_seconds: float = 0.0) -> None:
        self.kill()
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


@dataclass
class Stack:
    """Environment shared by every process of one run."""

    folder: Path
    database_url: str
    redis: RedisServer
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "DOCPROC_MEDIA_ROOT": str(self.folder / "media"),
            "DOCPROC_DATA_DIR": str(self.folder / "data"),
            "DOCPROC_TASKS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def start_worker(self, name: str, *, concurrency: int = 1, pool: str = "solo", queues: str = "cpu,ocr,gpu",
                     **env: str) -> subprocess.Popen:
        log = self.folder / f"worker-{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "docproc", "worker", "-Q", queues, "-c", str(concurrency),
             "-P", pool, "--without-gossip", "--without-mingle", "-l", "INFO", "-n", f"{name}@%h"],
            cwd=ROOT, env=self.env(DOCPROC_WORKER_QUEUES=queues, **env), stdout=log.open("a"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.log_path = log  # type: ignore[attr-defined]
        self.procs.append(proc)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited: {log.read_text(errors='replace')[-3000:]}")
            return " ready." in log.read_text(errors="replace") or self._heartbeat_seen(name)

        wait_until(ready, timeout=90, what=f"worker {name} ready")
        return proc

    def _heartbeat_seen(self, name: str) -> bool:
        """The worker wrote its heartbeat (see workers/observability.py): it is consuming."""
        import redis

        from docproc.metrics import HEARTBEAT_KEY

        try:
            names = redis.Redis.from_url(self.redis.url, socket_timeout=0.5).hkeys(HEARTBEAT_KEY)
        except Exception:
            return False
        return any(n.decode().startswith(f"{name}@") for n in names)

    def start_web(self, *, workers: int = 2, threads: int = 4, **env: str) -> str:
        """gunicorn on a free loopback port; returns its base URL."""
        port = free_port()
        log = self.folder / "gunicorn.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "docproc.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10"],
            cwd=ROOT, env=self.env(**env), stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.log_path = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(up, timeout=60, what="gunicorn listening")
        return base

    def manage(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """``manage.py`` in this stack's environment (how beat's periodic jobs would run)."""
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, check=False)

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL the process and its children at once: no shutdown handler runs."""
        _stop(proc, sig=signal.SIGKILL)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)
        self.redis.stop()


def upload_over_http(base: str, token: str, data: bytes, name: str, *, doc_type: str = "claim",
                     timeout: float = 60) -> tuple[int, dict]:
    """POST one file to the running API as multipart; (HTTP status, JSON body)."""
    import json
    import urllib.error
    import urllib.request
    import uuid

    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc_type\"\r\n\r\n{doc_type}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{base}/api/v1/documents/", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"detail": raw[:200].decode(errors="replace")}
