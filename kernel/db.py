"""Database engine and the unit of work.

One session per request or task lives on `flask.g`. Services only `flush`; the boundary commits
once: `after_request` for the web (only for successful responses), `unit_of_work()` for tasks and
commands. Callbacks registered with `after_commit` run once the transaction is durable, which is
how tasks are sent only after the rows they need exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

_AFTER_COMMIT_KEY = "nongsan_after_commit"
_READY_KEY = "nongsan_committed"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        # The web process and the worker share the file; wait for locks instead of failing.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=NullPool, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (savepoints
            # then work as documented).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            # Take the write lock at the start: a deferred transaction that reads and then writes
            # fails at once when another process wrote in between, instead of waiting its turn.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Flask extension holding the engine; sessions are made per application context."""

    def __init__(self) -> None:
        self._engines: dict[int, Engine] = {}

    def init_app(self, app: Flask) -> None:
        engine = app.config.get("DATABASE_ENGINE") or make_engine(app.config["DATABASE_URL"])
        self._engines[id(app)] = engine
        app.extensions["nongsan.db"] = self
        app.teardown_appcontext(self._close_session)
        app.after_request(self._commit_after_request)

    def engine_for(self, app: Flask) -> Engine:
        return self._engines[id(app)]

    @property
    def engine(self) -> Engine:
        return self.engine_for(current_app._get_current_object())  # type: ignore[attr-defined]

    def new_session(self) -> Session:
        bind = current_app.config.get("DATABASE_BIND")
        if bind is not None:
            # Tests bind every session to one connection inside an outer transaction; commits
            # become savepoints that the test rolls back at the end.
            return Session(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
        return Session(bind=self.engine, expire_on_commit=False)

    @staticmethod
    def _commit_after_request(response):
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return response
        ready: list = []
        try:
            if response.status_code < 400:
                session.commit()
                ready = session.info.pop(_READY_KEY, [])
            else:
                session.rollback()
        finally:
            session.close()
        _run(ready)
        return response

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


db = Database()


def get_session() -> Session:
    """The session of the current request or task (created on first use)."""
    if "db_session" not in g:
        g.db_session = db.new_session()
    return g.db_session


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction for a task or command: commit on success, roll back on error."""
    session = db.new_session()
    previous = g.get("db_session")
    g.db_session = session
    ready: list = []
    try:
        yield session
        session.commit()
        ready = session.info.pop(_READY_KEY, [])
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if previous is None:
            g.pop("db_session", None)
        else:
            g.db_session = previous
    _run(ready)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once this session's transaction has committed and the session has given its
    connection back (the request or task boundary runs it); dropped on rollback. Running it only
    after the connection is released matters: a callback that needs the database of its own would
    otherwise hold two pooled connections at once, and enough concurrent requests then deadlock."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def run_committed_callbacks(session: Session) -> None:
    """For code that commits a session itself, outside `unit_of_work` and the request boundary."""
    _run(session.info.pop(_READY_KEY, []))


def _run(callbacks: list) -> None:
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the outer transaction can still roll back
    session.info.setdefault(_READY_KEY, []).extend(session.info.pop(_AFTER_COMMIT_KEY, []))


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction was rolled back
        session.info.pop(_AFTER_COMMIT_KEY, None)
        session.info.pop(_READY_KEY, None)
        session.info.pop("nongsan_outbox_batch", None)
