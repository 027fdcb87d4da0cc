"""A province's tenth year next to its first day, in the same run (issue 13).

Builds two databases: a fresh one (one cooperative, a harvested batch with 50 events, a batch of a
few records, a handful of products) and a tenth year: the same, plus 10^6 log entries, 10^5
checkpoints, a batch with 5,000 records and 50,000 products, the batches' records spread over the
whole log as a year of work spreads them. Then it times, on each, the same operations and prints
every figure next to its fresh counterpart (goal: within 1.5x):

- trace page render (the page cache emptied each time: verification, template, everything);
- verification of the 50-event batch: warm, cold (empty process caches; the stored verified-through
  mark stands) and first (no mark either);
- signing one event into a batch's chain (the 5,000-record batch vs a 3-record one);
- an inclusion proof from `/log/proof/inclusion`;
- search "gao st25" and the empty query.

PostgreSQL only (the bulk building uses COPY and generate_series):

    NONGSAN_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/nongsan_scale_bench python -m bench.history

The tenth year goes into the same server's database named like the first with "_history" added
(created when missing). Building it takes a few minutes on two cores; `--keep` reuses it.
The older checkpoints are stand-in rows (no hot path reads them: verification reads only the
latest); the latest is a real signed checkpoint over the real tree of 10^6 leaves, whose tiles are
grown by the log's own publishing code.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from bench._world import cooperative_with_batch
from kernel.db import get_session, unit_of_work
from shop import create_app, migrate

LOG_ENTRIES = 1_000_000
CHECKPOINTS = 100_000
BIG_BATCH = 5_000
PRODUCTS = 50_000
ROUNDS = 50  # the records are issued in this many rounds, filler entries between them
WORDS = [("Gạo", "gao"), ("ST25", "st25"), ("ST24", "st24"), ("thơm", "thom"), ("lứt", "lut"), ("Hành tím", "hanh tim"),
         ("Bưởi", "buoi"), ("Năm Roi", "nam roi"), ("Tôm", "tom"), ("khô", "kho"), ("Mắm", "mam"), ("Đường", "duong"),
         ("thốt nốt", "thot not"), ("Xoài", "xoai"), ("cát Hòa Lộc", "cat hoa loc"), ("Bánh pía", "banh pia"),
         ("Cà Mau", "ca mau"), ("Sóc Trăng", "soc trang"), ("túi 5 kg", "tui 5 kg"), ("hộp", "hop"), ("Mật ong", "mat ong"),
         ("Dừa", "dua"), ("sấy", "say"), ("Cá", "ca"), ("Khóm", "khom"), ("Nếp", "nep"), ("Sen", "sen"), ("Trà", "tra")]


def _app(url: str, folder: Path):
    return create_app({
        "INSTANCE_PATH": str(folder), "DATABASE_URL": url, "SECRET_KEY": "bench-history-" + url,
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.bench",
        "BROKER_URL": f"sqla+sqlite:///{folder / 'broker.sqlite3'}", "REDIS_URL": None,
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "SCAN_COUNTER": "buffer",
        "CHECKPOINT_ENTRIES": 10**9,  # the build publishes when it chooses
    })


def _ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _events(app, batch_id: int, cooperative_id: int, count: int, gtin: str, lot: str) -> None:
    """`count` signed inspection events for a batch, in one bulk signing (as an EPCIS capture)."""
    from traceability import events as events_module
    from traceability.schemas import BatchRef, IssuerRef
    from traceability.services import CredentialService, key_service
    from shop.cooperatives.models import Cooperative

    with app.app_context(), unit_of_work() as session:
        cooperative = session.get(Cooperative, cooperative_id)
        link = f"https://nongsan.bench/01/{gtin}/10/{lot}"
        location = {"type": ["Location"], "id": "https://nongsan.bench/htx/bench", "name": cooperative.name}
        items = [(BatchRef(gtin, lot), "inspection", events_module.build_event(
            events_module.EventKind.INSPECTION, event_time=datetime.now(events_module.LOCAL_TZ), location=location,
            quantities=[events_module.quantity(link, "Gạo ST25", 1000)], details={"passed": True}))
            for _ in range(count)]
        CredentialService(session, key_service(session)).issue_many(IssuerRef("cooperative", cooperative.id, cooperative.name), items)


def _filler(session, count: int) -> None:
    """Log entries of other batches: hashes only (what the log stores of them)."""
    session.execute(text(
        "INSERT INTO logentry (\"index\", sha256, kind, leaf_hash, created_at) "
        "SELECT s, encode(sha256(('other-' || s)::bytea), 'hex'), 'event', encode(sha256(('leaf-' || s)::bytea), 'hex'), now() "
        "FROM generate_series((SELECT coalesce(max(\"index\"), -1) + 1 FROM logentry), "
        "(SELECT coalesce(max(\"index\"), -1) FROM logentry) + :n) AS s"), {"n": count})


def _products(session, cooperative_id: int, count: int, start_gtin: int) -> None:
    from traceability import gs1

    rng = __import__("random").Random(13)
    raw = session.connection().connection.driver_connection
    now = datetime.now(timezone.utc)
    with raw.cursor() as cursor, cursor.copy(
            "COPY product (cooperative_id, gtin, name, name_ascii, description, category, sale_unit, unit_weight_g, "
            "price_vnd, is_listed, created_at) FROM STDIN") as copy:
        for n in range(count):
            chosen = rng.sample(WORDS, 3)
            digits = f"0893{start_gtin + n:09d}"
            copy.write_row([cooperative_id, digits + str(gs1.gtin_check_digit(digits)), " ".join(w for w, _f in chosen),
                            " ".join(f for _w, f in chosen), "", "rice", "kg", 1000, 50_000 + n, True, now])


def build(url: str, folder: Path, *, history: bool) -> tuple:
    migrate.rebuild(url)
    app = _app(url, folder)
    cooperative_id, gtin, batch_id = cooperative_with_batch(app, lot="BENCH-1")
    from shop.catalog.schemas import BatchCreate
    from traceability.services import CredentialService, key_service, transparency_log
    from shop.catalog.services import CatalogService

    with app.app_context(), unit_of_work() as session:
        catalog = CatalogService(session, cooperative_id, alliance_gs1_prefix=app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, key_service(session)))
        from shop.catalog.models import Product
        from sqlmodel import select

        product = session.exec(select(Product).where(Product.gtin == gtin)).one()
        small = catalog.create_batch(product.id, BatchCreate(lot="SMALL-1", harvest_date=date.today() - timedelta(days=1),
                                                             plot="Ruộng 2", quantity_kg=1000))
        big = catalog.create_batch(product.id, BatchCreate(lot="BIG-1", harvest_date=date.today() - timedelta(days=1),
                                                           plot="Ruộng 3", quantity_kg=1000))
        small_id, big_id = small.id, big.id
    _events(app, small_id, cooperative_id, 2, gtin, "SMALL-1")
    rounds = ROUNDS if history else 1
    per_round_big = (BIG_BATCH - 2) // rounds if history else 2
    per_round_50 = 49 // rounds + 1 if history else 49
    filler = (LOG_ENTRIES - BIG_BATCH - 200) // rounds if history else 0
    made_50 = 0
    for _ in range(rounds):
        if filler:
            with app.app_context(), unit_of_work() as session:
                _filler(session, filler)
        if made_50 < 49:
            _events(app, batch_id, cooperative_id, min(per_round_50, 49 - made_50), gtin, "BENCH-1")
            made_50 += min(per_round_50, 49 - made_50)
        _events(app, big_id, cooperative_id, per_round_big, gtin, "BIG-1")
    with app.app_context(), unit_of_work() as session:
        log = transparency_log(session, key_service(session))
        log.publish_checkpoint()  # the real, signed head over the whole tree (its tiles grown here)
        if history:
            # The year's earlier checkpoints: stand-in rows below the real one.
            size = log.size()
            session.execute(text(
                "INSERT INTO checkpoint (tree_size, root_hash, peaks, note, created_at) "
                "SELECT s * :step, repeat('0', 64), '', 'stand-in', now() - ((:n - s + 1) * interval '5 minutes') "
                "FROM generate_series(1, :n) AS s"), {"step": max(1, (size - 1) // CHECKPOINTS), "n": CHECKPOINTS - 1})
    with app.app_context(), unit_of_work() as session:
        _products(session, cooperative_id, PRODUCTS if history else 20, 10_000)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return app, gtin


def _median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(app, gtin: str) -> dict[str, float]:
    from sqlalchemy import delete

    from shop.catalog.services import PublicCatalog
    from traceability import verification
    from traceability.models import Credential, VerifiedMark
    from traceability.schemas import BatchRef, IssuerRef
    from traceability import events as events_module
    from traceability.services import CredentialService, VerificationService, key_service
    from shop.cooperatives.models import Cooperative
    from sqlmodel import select

    figures: dict[str, float] = {}
    client = app.test_client()
    page = f"/01/{gtin}/10/BENCH-1"
    assert client.get(page).status_code == 200

    def render():
        app.extensions.get("nongsan.trace_pages", {}).clear()
        app.extensions.get("nongsan.trace_fast", {}).clear()
        assert client.get(page, headers={"Accept-Language": "vi"}).status_code == 200

    figures["trace page render"] = _median_ms(render, 15)
    batch = BatchRef(gtin, "BENCH-1")
    with app.app_context():
        session = get_session()
        service = VerificationService(session, key_service(session))
        assert len(service.verify_batch(batch).credentials) == 50
        session.commit()
        figures["verify 50 events, warm"] = _median_ms(lambda: service.verify_batch(batch), 30)

        def cold():
            for cache in (verification._signature_ok, verification._header, verification._certificate,
                          verification._chain_structure, verification._opened_note, verification._root):
                cache.cache_clear()
            assert service.verify_batch(batch).ok

        figures["verify 50 events, cold (mark stored)"] = _median_ms(cold, 10)

        def first():
            session.execute(delete(VerifiedMark))
            cold()
            session.rollback()

        figures["verify 50 events, first (no mark)"] = _median_ms(first, 5)
        sha = session.exec(select(Credential.sha256).where(Credential.gtin == gtin, Credential.lot == "BENCH-1",
                                                           Credential.seq == 2)).one()
        session.rollback()
    figures["inclusion proof (HTTP)"] = _median_ms(
        lambda: client.get(f"/log/proof/inclusion?sha256={sha}").status_code == 200 or sys.exit("no proof"), 30)

    for lot, name in (("SMALL-1", "sign one event into a 3-record chain"), ("BIG-1", "sign one event into the big chain")):
        def sign(lot=lot):
            with app.app_context():
                session = get_session()
                cooperative = session.exec(select(Cooperative)).first()
                event = events_module.build_event(
                    events_module.EventKind.INSPECTION, event_time=datetime.now(events_module.LOCAL_TZ),
                    location={"type": ["Location"], "id": "https://nongsan.bench/htx/bench", "name": cooperative.name},
                    quantities=[events_module.quantity(f"https://nongsan.bench/01/{gtin}/10/{lot}", "Gạo ST25", 1)])
                CredentialService(session, key_service(session)).issue(
                    IssuerRef("cooperative", cooperative.id, cooperative.name), BatchRef(gtin, lot), "inspection", event)
                session.commit()
        figures[name] = _median_ms(sign, 15)
    with app.app_context():
        session = get_session()
        catalog = PublicCatalog(session)
        figures['search "gao st25"'] = _median_ms(lambda: catalog.find("gao st25"), 20)
        figures["search, empty query"] = _median_ms(lambda: catalog.find(""), 20)
        session.rollback()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="reuse the tenth year built by an earlier run")
    args = parser.parse_args()
    url = os.environ.get("NONGSAN_BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        sys.exit("set NONGSAN_BENCH_DATABASE_URL to a PostgreSQL database of its own")
    history_url = url + "_history"
    _ensure_database(history_url)
    folder = Path(tempfile.mkdtemp(prefix="nongsan-history-"))
    started = time.perf_counter()
    fresh_app, fresh_gtin = build(url, folder / "fresh", history=False)
    if args.keep:
        old_app = _app(history_url, folder / "history")
        with old_app.app_context():
            from sqlmodel import select

            from shop.catalog.models import Product

            old_gtin = get_session().exec(select(Product.gtin).order_by(Product.id).limit(1)).one()
    else:
        old_app, old_gtin = build(history_url, folder / "history", history=True)
    print(f"built in {time.perf_counter() - started:.0f} s")
    with old_app.app_context():
        session = get_session()
        counts = {name: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for name, table in (("log entries", "logentry"), ("checkpoints", "checkpoint"),
                                      ("records", "credential"), ("products", "product"), ("tiles", "logtile"))}
    print("tenth year: " + ", ".join(f"{n:,} {name}" for name, n in counts.items()))
    fresh = measure(fresh_app, fresh_gtin)
    old = measure(old_app, old_gtin)
    width = max(len(k) for k in fresh)
    print(f"{'figure (median ms)':<{width}}  {'fresh':>9}  {'10th year':>9}  ratio (goal <= 1.5)")
    for name in fresh:
        ratio = old[name] / fresh[name]
        print(f"{name:<{width}}  {fresh[name]:>9.2f}  {old[name]:>9.2f}  {ratio:5.2f}{'' if ratio <= 1.5 else '  over'}")


if __name__ == "__main__":
    main()
