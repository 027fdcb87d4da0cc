"""Alembic, driven from the application's configuration (`nongsan db …`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from flask import current_app

from shop import PROJECT_ROOT


def alembic_config(url: str | None = None, connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", (url or current_app.config["DATABASE_URL"]).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def include_name(name, type_, parent_names) -> bool:
    """What the models describe: not the catalogue search's own index objects (migration 0017)."""
    from shop.catalog.models import SEARCH_INDEX_NAMES

    return name not in SEARCH_INDEX_NAMES


def upgrade(revision: str = "head", url: str | None = None, connection=None) -> None:
    command.upgrade(alembic_config(url, connection), revision)


def downgrade(revision: str, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> None:
    command.current(alembic_config(url), verbose=True)


def revision(message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(), message=message, autogenerate=autogenerate)


def rebuild(url: str) -> None:
    """Empty a throw-away database and migrate it to head (tests and benchmarks only: on
    PostgreSQL it drops the whole public schema)."""
    if url.startswith("postgresql"):
        from sqlalchemy import text

        from kernel.db import make_engine

        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade("head", url=url)
