"""The `nongsan` command: run everything on a laptop, manage the database, seed demo data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    from shop import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """nongsan: farm produce with signed origin records."""


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    from shop import migrate

    migrate.upgrade(revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    from shop import migrate

    migrate.downgrade(revision)


@db.command("current")
@with_appcontext
def db_current() -> None:
    from shop import migrate

    migrate.current()


@db.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    from shop import migrate

    migrate.revision(message)


@main.command("seed")
@with_appcontext
def seed_command() -> None:
    """Load the demo cooperatives, products and accounts into an empty database."""
    logins = _seed_if_empty()
    if not logins:
        click.echo("the database already has data; nothing seeded")
    _print_logins()


def _seed_if_empty() -> dict[str, str]:
    from kernel.db import unit_of_work
    from shop.seed import is_empty, seed_demo

    with unit_of_work() as session:
        if not is_empty(session):
            return {}
        return seed_demo(session, Path(current_app.instance_path))


def _print_logins() -> None:
    from shop.seed import read_logins

    logins = read_logins(Path(current_app.instance_path))
    if logins:
        click.echo("Demo logins (also in instance/demo-logins.json):")
        for username, password in logins.items():
            click.echo(f"  {username:12} {password}")


@main.group()
def outbox() -> None:
    """The transactional outbox."""


@outbox.command("sweep")
@with_appcontext
def outbox_sweep() -> None:
    from kernel import outbox as outbox_module

    click.echo(f"sent {outbox_module.sweep()} pending message(s)")


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not start the Celery worker and beat.")
@with_appcontext
def run_command(host: str, port: int, no_worker: bool) -> None:
    """Migrate, seed demo data when empty, then start web server, worker and beat together."""
    from waitress import create_server

    from shop import migrate

    migrate.upgrade("head")
    _seed_if_empty()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    children: list[subprocess.Popen] = []
    if not no_worker:
        env = dict(os.environ, NONGSAN_INSTANCE_PATH=app.instance_path)
        celery = [sys.executable, "-m", "celery", "-A", "workers.celery_worker"]
        children.append(subprocess.Popen([*celery, "worker", "--loglevel=INFO", "--concurrency=2",
                                          "-Q", app.config["CELERY_QUEUE"]], env=env))
        children.append(subprocess.Popen([*celery, "beat", "--loglevel=INFO", "-s",
                                          str(Path(app.instance_path) / "celerybeat-schedule")], env=env))
    server = create_server(app, host=host, port=port, threads=8)
    click.echo("")
    click.echo(f"nongsan is running at http://{host}:{port}/  (Ctrl-C stops web, worker and beat)")
    _print_logins()

    def _stop(*_args) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        click.echo("stopped")


@main.command("verify")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--root-sha256", help="Pin the alliance root certificate by its SHA-256 (hex) instead of trusting the one in the file.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def verify_command(bundle, root_sha256: str | None, as_json: bool) -> None:
    """Verify an exported trace bundle offline: signatures, certificates, key status, hash chain and
    log inclusion. Exit code 0 when everything holds, 1 when anything fails."""
    import json as json_module

    from cryptography.hazmat.primitives.serialization import Encoding

    from traceability import crypto, x509ca
    from traceability.verification import load_bundle, verify_evidence

    try:
        evidence = load_bundle(bundle.read())
    except (ValueError, KeyError, TypeError) as error:
        raise click.ClickException(f"not a nongsan trace bundle: {error}") from error
    root_fingerprint = crypto.sha256_hex(x509ca.cert_from_pem(evidence.root_certificate_pem).public_bytes(Encoding.DER))
    if root_sha256 and root_sha256.lower() != root_fingerprint:
        click.echo(f"FAILED: the bundle's root certificate ({root_fingerprint}) is not the one you pinned")
        sys.exit(1)
    result = verify_evidence(evidence)
    if as_json:
        click.echo(json_module.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"batch (01){evidence.gtin}(10){evidence.lot}: {len(result.credentials)} record(s)")
        click.echo(f"alliance root certificate SHA-256: {root_fingerprint}{'' if root_sha256 else '  (not pinned: use --root-sha256)'}")
        for problem in result.problems:
            click.echo(f"  ! {problem.name}: {problem.reason}")
        for credential in result.credentials:
            marks = " ".join(f"{c.name}={(c.detail or 'ok') if c.ok else c.reason}" for c in credential.checks)
            click.echo(f"  #{credential.seq} {'OK ' if credential.ok else 'BAD'} {marks}")
        # A record newer than the bundle's checkpoint is accepted as pending, as on the page.
        pending = f" ({len(result.pending)} record(s) pending: newer than the checkpoint)" if result.pending else ""
        click.echo("VERIFIED" + pending if result.ok else "FAILED: " + ", ".join(result.failures))
    sys.exit(0 if result.ok else 1)
