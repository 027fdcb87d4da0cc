"""Shared fixtures.

The database is real: PostgreSQL when NONGSAN_TEST_DATABASE_URL points at one (CI does), else a
SQLite file. Its schema is built once per run by `alembic upgrade head`, and each test runs inside
a transaction that is rolled back, so tests never see each other's rows. The broker is Redis when
NONGSAN_TEST_REDIS_URL is set, else the embedded SQLite broker.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from pathlib import Path

import pytest

from shop import create_app
from kernel.db import make_engine

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("NONGSAN_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    from shop import migrate

    migrate.rebuild(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory) -> str:
    return os.environ.get("NONGSAN_TEST_REDIS_URL") or f"sqla+sqlite:///{tmp_path_factory.mktemp('broker') / 'broker.sqlite3'}"


def base_config(instance_path: Path, database_url: str, broker_url: str) -> dict:
    redis_url = broker_url if broker_url.startswith("redis") else None
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance_path),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BROKER_URL": broker_url,
        "RESULT_BACKEND": redis_url or f"db+sqlite:///{instance_path / 'results.sqlite3'}",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.test",
        "CELERY_QUEUE": f"nongsan-test-{RUN_ID}",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SCAN_COUNTER": "database",  # tests read the counts right away
        # A checkpoint with every record, so a test sees its records logged at once (tests of
        # the cadence and of pending records set their own).
        "CHECKPOINT_ENTRIES": 1,
    }


@pytest.fixture
def db_connection(engine):
    connection = engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture
def app(tmp_path, database_url, broker_url, db_connection):
    config = base_config(tmp_path / "instance", database_url, broker_url)
    config["DATABASE_BIND"] = db_connection
    app = create_app(config)
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app, db_connection):
    """A session in the test's transaction. No application context stays pushed, so each test
    client request gets its own, as in production."""
    from sqlmodel import Session

    session = Session(bind=db_connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    yield session
    session.close()


@pytest.fixture
def factory(app, session):
    from tests.factories import Factory

    return Factory(app, session)
