"""A whole running service for journey tests: a fresh database, the web app on a real HTTP port,
a real Celery worker process on the configured broker, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from shop import create_app
from shop import migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.reject_with: str | None = None  # e.g. "451 try later" to exercise retries

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.reject_with:
            return self.reject_with
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@dataclass
class FreshDatabase:
    url: str
    drop: callable = field(default=lambda: None)


def fresh_database(tmp_path: Path) -> FreshDatabase:
    base = os.environ.get("NONGSAN_TEST_DATABASE_URL")
    if not base:
        return FreshDatabase(f"sqlite:///{tmp_path / 'live.sqlite3'}")
    name = f"nongsan_live_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
            ), {"name": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return FreshDatabase(urlunsplit(parts._replace(path=f"/{name}")), drop)


class LiveStack:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.instance = tmp_path / "instance"
        self.database = fresh_database(tmp_path)
        migrate.upgrade("head", url=self.database.url)
        self.mail = MailSink()
        self.smtp = Controller(self.mail, hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        redis = os.environ.get("NONGSAN_TEST_REDIS_URL")
        self.settings = {
            "DATABASE_URL": self.database.url,
            "REDIS_URL": redis or "",
            "BROKER_URL": redis or f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
            "RESULT_BACKEND": redis or f"db+sqlite:///{tmp_path / 'results.sqlite3'}",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "PUBLIC_BASE_URL": self.base_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp.port),
            "CELERY_QUEUE": f"nongsan-live-{uuid.uuid4().hex[:8]}",
            "OUTBOX_SWEEP_SECONDS": "2",
            # Each stack counts its own logins: a shared Redis counter would let one journey's
            # logins rate-limit the next one's.
            "RATELIMIT_STORAGE_URI": "memory://",
            # A checkpoint with every record, as in the unit tests: the journeys see records logged
            # at once (the browser's pending case holds some back on purpose).
            "CHECKPOINT_ENTRIES": "1",
        }
        self.app = create_app({**self.settings, "INSTANCE_PATH": str(self.instance), "SMTP_PORT": self.smtp.port,
                               "OUTBOX_SWEEP_SECONDS": 2, "REDIS_URL": redis or None})
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.server_thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.server_thread.start()
        self.worker: subprocess.Popen | None = None
        self.worker_log = tmp_path / "worker.log"

    def worker_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("NONGSAN_")}
        env.update({f"NONGSAN_{key}": value for key, value in self.settings.items() if value != ""})
        env["NONGSAN_INSTANCE_PATH"] = str(self.instance)
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        return env

    def start_worker(self, *, beat: bool = True, timeout: float = 60) -> None:
        command = [sys.executable, "-m", "celery", "-A", "workers.celery_worker", "worker", "--pool=solo",
                   "--concurrency=1", "-Q", self.settings["CELERY_QUEUE"], "--without-gossip", "--without-mingle",
                   "--loglevel=INFO", "-n", f"live-{uuid.uuid4().hex[:6]}@%h"]
        if beat:
            command += ["--beat", "-s", str(self.tmp_path / "beat-schedule")]
        log = open(self.worker_log, "ab")
        self.worker = subprocess.Popen(command, env=self.worker_env(), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError("worker exited:\n" + self.worker_log.read_text(errors="replace")[-4000:])
            if b" ready." in self.worker_log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError("worker did not start:\n" + self.worker_log.read_text(errors="replace")[-4000:])

    def stop_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(5)
        self.worker = None

    def close(self) -> None:
        self.stop_worker()
        self.server.shutdown()
        self.smtp.stop()
        self.app.extensions["nongsan.db"].engine_for(self.app).dispose()
        self.database.drop()


def wait_until(predicate, timeout: float = 45, interval: float = 0.3, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
