import json
import stat

import pytest

from shop import create_app
from kernel.config import ConfigError


def test_embedded_default_generates_secrets_once_with_mode_0600(tmp_path, monkeypatch):
    for name in ("NONGSAN_SECRET_KEY", "NONGSAN_KEY_ENCRYPTION_KEY", "NONGSAN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)})
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    stored = json.loads(secrets_file.read_text())
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == stored["SECRET_KEY"]
    assert first.config["KEY_ENCRYPTION_KEY"] == stored["KEY_ENCRYPTION_KEY"]
    assert first.config["DATABASE_URL"].startswith("sqlite:///")
    assert first.config["BROKER_URL"].startswith("sqla+sqlite:///")


def test_server_database_without_secrets_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("NONGSAN_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="NONGSAN_SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1/none"})
    assert not (tmp_path / "secrets.json").exists()


def test_settings_come_from_prefixed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NONGSAN_PUBLIC_BASE_URL", "https://truyxuat.example.vn/")
    monkeypatch.setenv("NONGSAN_REDIS_URL", "redis://127.0.0.1:6379/9")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["PUBLIC_BASE_URL"] == "https://truyxuat.example.vn"
    assert app.config["BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_health_endpoint_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True}


def test_dates_money_and_times_are_shown_the_vietnamese_way():
    from datetime import date, datetime, timezone

    from kernel.i18n import format_date, format_datetime, format_vnd

    assert format_vnd(120000) == "120.000 ₫"
    assert format_vnd(1234567) == "1.234.567 ₫"
    assert format_date(date(2026, 3, 9)) == "09/03/2026"
    # 18:30 UTC is already the next day in Asia/Ho_Chi_Minh (UTC+7)
    assert format_date(datetime(2026, 3, 9, 18, 30, tzinfo=timezone.utc)) == "10/03/2026"
    assert format_datetime(datetime(2026, 3, 9, 18, 30, tzinfo=timezone.utc)) == "01:30 10/03/2026"
