"""Configuration: defaults, then NONGSAN_* environment variables, then test overrides.

Secrets are never committed. For the embedded default (SQLite) the missing ones are generated once
into the instance folder with mode 0600, so a laptop install keeps the same keys across restarts.
A server deployment (any non-SQLite database) must pass them in the environment instead: several
gunicorn and worker processes on different machines could not share a file-generated secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration cannot run the service; the message says which setting to fix."""


# Settings a person may change through NONGSAN_<NAME>. Values that are None are filled in by
# `finalize` from the instance folder or other settings.
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,
    "REDIS_URL": None,
    "BROKER_URL": None,
    "RESULT_BACKEND": None,
    "SECRET_KEY": None,
    "KEY_ENCRYPTION_KEY": None,
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 10,
    "MAIL_FROM": "nongsan <no-reply@nongsan.local>",
    "MESSAGE_WEBHOOK_URL": None,  # SMS/Zalo gateway for buyers who gave only a phone number
    "MESSAGE_WEBHOOK_SECRETS": None,
    "GS1_COMPANY_PREFIX": "8930001",
    "ALLIANCE_NAME": "Liên minh Hợp tác xã thành phố Cần Thơ",
    "ALLIANCE_PROVINCE_CODE": 92,
    "LOGIN_RATE_LIMIT": "10 per minute;30 per hour",
    "APPLICATION_RATE_LIMIT": "10 per hour",  # public cooperative applications, per address
    "INVITATION_VALID_DAYS": 7,
    "REPORT_RATE_LIMIT": "5 per hour",
    "SCAN_COUNTER": "auto",
    "SCAN_BUFFER_SECONDS": 10,
    # The transparency log's cadence: a checkpoint as soon as this many entries wait (the writer
    # publishes it), else when the oldest has waited this many seconds (beat publishes it).
    "CHECKPOINT_ENTRIES": 1000,
    "CHECKPOINT_SECONDS": 60,
    "ALLIANCE_EMAIL": None,
    "OUTBOX_SWEEP_SECONDS": 30,
    # Redis hands an unacknowledged task to another worker after this long; task time limits and
    # retry waits are derived from it (see workers/celery_app.py).
    "BROKER_VISIBILITY_TIMEOUT": 3600,
    "TASK_RETRY_MAX_SECONDS": None,  # longest wait between retries; default half the timeout, at most 30 min
    "OUTBOX_LEASE_SECONDS": None,  # how long a started task may stay unfinished before the sweep re-sends it
    "CELERY_QUEUE": "nongsan",
    # Who prices parcels: "tariff" (the alliance's table) or "http" (a live carrier API at
    # CARRIER_URL, falling back to the table); quotes are cached for QUOTE_CACHE_SECONDS (0: off).
    "CARRIER_ADAPTER": "tariff",
    "CARRIER_URL": None,
    "CARRIER_TOKEN": None,
    "CARRIER_TIMEOUT": 2,
    "QUOTE_CACHE_SECONDS": 3600,
    # The official EPCIS 2.0 JSON schema, when the deployment has a copy: captures are then checked
    # against it as well as against nongsan's own rules.
    "EPCIS_SCHEMA_PATH": None,
    # Flask / extensions
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": 4 * 3600,
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    "BABEL_DEFAULT_LOCALE": "vi",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
    "RATELIMIT_HEADERS_ENABLED": True,
}

SECRET_NAMES = ("SECRET_KEY", "KEY_ENCRYPTION_KEY")


def _new_secret(name: str) -> str:
    if name == "KEY_ENCRYPTION_KEY":
        # 32 random bytes: the AES-256 key that wraps every signing key's data key.
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return secrets.token_urlsafe(48)


def load_instance_secrets(instance_path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Read the instance secrets file, adding the missing names once (file mode 0600)."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    missing = [name for name in names if not stored.get(name)]
    if missing:
        for name in missing:
            stored[name] = _new_secret(name)
        # Create with 0600 from the start so the secret is never readable by others, not even briefly.
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=2)
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return {name: stored[name] for name in names}


def finalize(config: dict[str, Any], instance_path: Path) -> None:
    """Fill the derived settings and check the ones that must be present."""
    instance_path.mkdir(parents=True, exist_ok=True)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance_path / 'nongsan.sqlite3'}"
    embedded = config["DATABASE_URL"].startswith("sqlite")

    missing = [name for name in SECRET_NAMES if not config.get(name)]
    if missing:
        if not embedded:
            raise ConfigError(
                "Missing secrets for a server deployment: "
                + ", ".join(f"NONGSAN_{name}" for name in missing)
            )
        config.update(load_instance_secrets(instance_path, tuple(missing)))

    redis_url = config.get("REDIS_URL")
    if not config.get("BROKER_URL"):
        config["BROKER_URL"] = redis_url or f"sqla+sqlite:///{instance_path / 'celery-broker.sqlite3'}"
    if not config.get("RESULT_BACKEND"):
        config["RESULT_BACKEND"] = redis_url or f"db+sqlite:///{instance_path / 'celery-results.sqlite3'}"
    if not config.get("RATELIMIT_STORAGE_URI"):
        config["RATELIMIT_STORAGE_URI"] = redis_url or "memory://"

    base = str(config["PUBLIC_BASE_URL"]).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError("NONGSAN_PUBLIC_BASE_URL must start with http:// or https://")
    config["PUBLIC_BASE_URL"] = base
    # Cookies only travel over TLS when the public address is https.
    if base.startswith("https://"):
        config["SESSION_COOKIE_SECURE"] = True
    config["SECRET_KEY"] = str(config["SECRET_KEY"])
