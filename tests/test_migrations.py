"""Migrations are the only way the schema is made: one head, and it matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from shop.migrate import alembic_config
from shop.models_registry import metadata


def test_there_is_exactly_one_head(database_url):
    script = ScriptDirectory.from_config(alembic_config(url=database_url))
    assert len(script.get_heads()) == 1


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        from shop.migrate import include_name  # the catalogue search's index objects are the migration's own

        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_downgrade_to_base_and_back_up(tmp_path):
    from shop import migrate

    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    migrate.upgrade("head", url=url)
    from alembic import command

    command.downgrade(alembic_config(url=url), "base")
    migrate.upgrade("head", url=url)
