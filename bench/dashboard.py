"""The alliance's dashboard on a province-sized PostgreSQL database: 300 cooperatives, 5,000
products, 10,000 batches, 200,000 orders (260,000 lines, 180,000 shipments) and 2 million daily
scan counts over a year. Runs the hourly roll-ups once, then lets an hour of deliveries happen
(so some finished days are read live, as in service), and prints the warm render time of the whole
page (the view through Flask's test client: login session, every aggregate, the SVG charts, the
template) next to (a) the largest aggregate over the raw data run alone (what the page would cost
without roll-ups; goal: page at most 1.5× that) and (b) the largest statement the page itself
still runs, alone, all in the same run. It also checks that the page's order, category and
shipment tables equal those summed from the raw rows.

    NONGSAN_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/nongsan_h6b python -m bench.dashboard

The database named there is emptied and rebuilt (`shop.migrate.rebuild`). The rows are made by
INSERT … SELECT over generate_series, so building the province takes seconds, not hours.
`--keep` skips the rebuild when the data is already there.
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Boolean, Date, DateTime, Integer, String, Text, text

from shop import create_app, migrate
from kernel.db import db, get_session, unit_of_work

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/nongsan_h6b"
COOPERATIVES, PRODUCTS, BATCHES, ORDERS, SCAN_ROWS = 300, 5_000, 10_000, 200_000, 2_000_000
WARM_UP, RUNS = 3, 9
LATE_CHANGES = 90  # status changes in an hour: a province's 550 orders a day, each changing four times
USERNAME, PASSWORD = "bench-alliance", "mật khẩu đo hiệu năng"


def _filler(column) -> str:
    """A value for a NOT NULL column the generator does not care about (other features' columns)."""
    kind = column.type
    if isinstance(kind, Boolean):
        return "false"
    if isinstance(kind, Integer):
        return "0"
    if isinstance(kind, DateTime) or getattr(kind, "impl", None) is not None and isinstance(kind.impl, DateTime):
        return "now()"
    if isinstance(kind, Date):
        return "current_date"
    if isinstance(kind, (String, Text)):
        return "''"
    return "'{}'"


def bulk(connection, table: str, values: dict[str, str], source: str) -> None:
    """INSERT INTO table SELECT values FROM source, filling every other NOT NULL column."""
    from shop.models_registry import metadata

    columns = dict(values)
    for column in metadata.tables[table].columns:
        if column.name in columns or column.nullable or column.primary_key or column.server_default is not None:
            continue
        columns[column.name] = _filler(column)
    names = ", ".join(f'"{name}"' for name in columns)
    connection.execute(text(f'INSERT INTO "{table}" ({names}) SELECT {", ".join(columns.values())} FROM {source}'))


def build_province(url: str) -> None:
    from kernel.db import make_engine

    migrate.rebuild(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as c:
        c.execute(text("SELECT setseed(0.42)"))
        bulk(c, "cooperative", {
            "slug": "'htx-' || g", "name": "'HTX Nông sản số ' || g", "kind": "'cooperative'",
            "registration_no": "'BENCH' || lpad(g::text, 6, '0')", "province_code": "CASE WHEN g % 10 = 0 THEN 79 ELSE 92 END",
            "ward_code": "31684", "address": "'Ấp ' || g", "phone": "'0912345678'", "status": "'approved'",
            "created_at": "now() - interval '2 years'",
        }, f"generate_series(1, {COOPERATIVES}) g")
        bulk(c, "product", {
            "cooperative_id": f"1 + (g % {COOPERATIVES})", "gtin": "lpad(g::text, 14, '0')", "name": "'Sản phẩm ' || g",
            "name_ascii": "'san pham ' || g", "description": "''",
            "category": "(ARRAY['rice','fruit','vegetables','seafood','processed','other'])[1 + g % 6]",
            "sale_unit": "'kg'", "unit_weight_g": "1000", "price_vnd": "20000 + (g % 50) * 5000", "is_listed": "true",
            "created_at": "now() - interval '2 years'",
        }, f"generate_series(1, {PRODUCTS}) g")
        bulk(c, "batch", {
            "product_id": f"1 + (g - 1) % {PRODUCTS}", "cooperative_id": f"1 + ((1 + (g - 1) % {PRODUCTS}) % {COOPERATIVES})",
            "lot": "'L' || g", "harvest_date": "current_date - (g % 365)", "plot": "'Ruộng ' || g", "quantity_g": "1000000",
            "stock_units": "100", "created_at": "now() - (g % 365) * interval '1 day'",
        }, f"generate_series(1, {BATCHES}) g")
        # Order g sells product p = 1 + (g * 7919) % PRODUCTS of cooperative 1 + p % COOPERATIVES, placed
        # at a random moment of the last 13 months, with a realistic spread of statuses.
        status = ("CASE WHEN r < 0.70 THEN 'delivered' WHEN r < 0.80 THEN 'settled' WHEN r < 0.85 THEN 'cancelled' "
                  "WHEN r < 0.90 THEN 'returned' WHEN r < 0.95 THEN 'placed' ELSE 'in_transit' END")
        bulk(c, "customer_order", {
            "reference": "'NS-' || lpad(g::text, 8, '0')", "public_token": "md5(g::text)", "checkout_key": "md5('k' || g)",
            "cooperative_id": f"1 + ((1 + (g * 7919) % {PRODUCTS}) % {COOPERATIVES})", "status": status,
            "buyer_name": "'Người mua'", "buyer_phone": "'0903123456'", "province_code": "79", "ward_code": "26734",
            "street": "'12 Lê Lợi'", "note": "''", "payment_method": "'cod'", "goods_total_vnd": "50000 + (g % 40) * 25000",
            "shipping_fee_vnd": "30000", "weight_g": "2000", "created_at": "now() - r2 * interval '395 days'",
        }, f"(SELECT g, random() AS r, random() AS r2 FROM generate_series(1, {ORDERS}) g) s")
        bulk(c, "orderline", {
            "order_id": "o.id", "product_id": f"1 + (o.id::bigint * 7919) % {PRODUCTS}", "batch_id": f"1 + (o.id::bigint * 7919) % {PRODUCTS}",
            "product_name": "'Sản phẩm'", "lot": "'L1'", "quantity": "2", "unit_price_vnd": "o.goods_total_vnd / 2",
            "line_total_vnd": "o.goods_total_vnd",
        }, "customer_order o")
        bulk(c, "orderline", {  # a second product on three orders in ten
            "order_id": "o.id", "product_id": f"1 + (o.id::bigint * 104729) % {PRODUCTS}", "batch_id": f"1 + (o.id::bigint * 104729) % {PRODUCTS}",
            "product_name": "'Sản phẩm'", "lot": "'L1'", "quantity": "1", "unit_price_vnd": "40000", "line_total_vnd": "40000",
        }, "customer_order o WHERE o.id % 10 < 3")
        bulk(c, "orderstatuschange", {"order_id": "o.id", "to_status": "'placed'", "actor": "'buyer'", "reason": "''",
                                      "at": "o.created_at"}, "customer_order o")
        bulk(c, "orderstatuschange", {"order_id": "o.id", "from_status": "'placed'", "to_status": "'handed_to_post'",
                                      "actor": "'member:1'", "reason": "''", "at": "least(o.created_at + (o.id % 96) * interval '1 hour', now())"},
             "customer_order o WHERE o.status IN ('delivered', 'settled', 'returned', 'in_transit')")
        bulk(c, "postal_partner", {"name": "'Bưu điện'", "province_code": "92", "is_default": "true", "created_at": "now()"},
             "generate_series(1, 1) g")
        bulk(c, "shipment", {
            "code": "'EN' || lpad(o.id::text, 9, '0') || 'VN'", "order_id": "o.id", "order_reference": "o.reference",
            "cooperative_id": "o.cooperative_id", "partner_id": "1",
            "status": "CASE o.status WHEN 'settled' THEN 'delivered' ELSE o.status END",
            "sender_name": "'HTX'", "sender_province_code": "92", "sender_ward_code": "31684", "sender_address": "'Ấp 1'",
            "recipient_name": "o.buyer_name", "recipient_phone": "o.buyer_phone", "recipient_province_code": "79",
            "recipient_ward_code": "26734", "recipient_address": "o.street", "note": "''", "weight_g": "o.weight_g",
            "shipping_fee_vnd": "30000", "cod_amount_vnd": "CASE WHEN o.id % 5 = 0 THEN 0 ELSE o.goods_total_vnd END",
            "cod_collected_vnd": "CASE WHEN o.status IN ('delivered', 'settled') AND o.id % 50 <> 1 THEN o.goods_total_vnd END",
            "cod_remitted_vnd": "CASE WHEN o.status IN ('delivered', 'settled') AND o.id % 50 > 3 THEN o.goods_total_vnd END",
            "created_at": "least(o.created_at + interval '1 day', now())",
            "updated_at": "least(o.created_at + interval '3 days', now())",
        }, "customer_order o WHERE o.status IN ('delivered', 'settled', 'returned', 'in_transit')")
        # Two million (batch, day) counts: 200 days per batch, spread over the year.
        bulk(c, "scanday", {
            "gtin": "p.gtin", "lot": "b.lot", "day": f"current_date - (((g - 1) / {BATCHES}) * 365 / 200)::int",
            "count": "1 + (g % 5)",
        }, f"generate_series(1, {SCAN_ROWS}) g JOIN batch b ON b.id = 1 + (g - 1) % {BATCHES} JOIN product p ON p.id = b.product_id")
        bulk(c, "recall", {"gtin": "p.gtin", "lot": "'L' || p.id", "reason": "'Dư lượng thuốc bảo vệ thực vật'",
                           "recalled_by": "'alliance:1'", "recalled_at": "now() - (p.id % 300) * interval '1 day'"},
             "product p WHERE p.id % 250 = 0")
        bulk(c, "webhookdelivery", {"id": "'wh-' || g", "partner_id": "1", "shipment_code": "'EN000000001VN'", "body": "'{}'",
                                    "status": "'failed'", "attempts": "12", "created_at": "now()"}, "generate_series(1, 5) g")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))  # fresh statistics and visibility maps, as autovacuum would leave them
    with engine.connect() as c:
        counts = {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                  for t in ("cooperative", "product", "batch", "customer_order", "orderline", "shipment", "scanday")}
    engine.dispose()
    print(f"province built in {time.perf_counter() - started:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))


def _median_ms(work, runs: int = RUNS) -> float:
    for _ in range(WARM_UP):
        work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    url = os.environ.get("NONGSAN_BENCH_DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgresql"):
        sys.exit("this benchmark needs PostgreSQL (NONGSAN_BENCH_DATABASE_URL)")
    if "--keep" not in sys.argv:
        build_province(url)
    folder = Path(tempfile.mkdtemp(prefix="nongsan-bench-"))
    app = create_app({
        "INSTANCE_PATH": str(folder), "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(32),
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.bench", "BROKER_URL": f"sqla+sqlite:///{folder / 'broker.sqlite3'}",
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
    })
    from sqlmodel import select

    from shop.accounts.models import Role, User
    from shop.accounts.services import AccountService
    from shop.insight.schemas import MonthRange
    from shop.insight.services import DashboardService, custom_plans, dashboard_plans

    with app.app_context(), unit_of_work() as session:
        if session.exec(select(User).where(User.username == USERNAME)).first() is None:
            AccountService(session).create_user(username=USERNAME, password=PASSWORD, display_name="Đo hiệu năng",
                                                role=Role.ALLIANCE_ADMIN)
        # What the hourly beat tasks have done by the time anyone opens the dashboard.
        from shop.insight.services import roll_up_orders, roll_up_scans

        rolled = roll_up_scans(session)
        rolled_orders = roll_up_orders(session)
    print(f"scan days rolled up: {rolled}; order days rolled up: {rolled_orders}")
    # Then an hour of a province's activity before the page is opened: the post delivers orders of
    # the last ten days, so those days are read live from the orders, as they would be in service.
    with app.app_context(), db.engine.begin() as connection:
        changed = connection.execute(text(f"""
            WITH moved AS (
                UPDATE customer_order SET status = 'delivered'
                WHERE id IN (SELECT id FROM customer_order WHERE status = 'in_transit'
                             AND created_at >= now() - interval '10 days' ORDER BY id LIMIT {LATE_CHANGES})
                RETURNING id)
            , changed AS (
                INSERT INTO orderstatuschange (order_id, from_status, to_status, actor, reason, at)
                SELECT id, 'in_transit', 'delivered', 'partner:1', '', now() FROM moved RETURNING order_id)
            UPDATE shipment SET status = 'delivered', updated_at = now()
            WHERE order_id IN (SELECT order_id FROM changed) RETURNING order_id""")).all()
    client = app.test_client()
    assert client.post("/login", data={"username": USERNAME, "password": PASSWORD}).status_code in (302, 303)

    def render() -> None:
        response = client.get("/alliance/dashboard")
        assert response.status_code == 200 and b'class="bar"' in response.data

    page_ms = _median_ms(render)

    from datetime import datetime

    from kernel.i18n import LOCAL_TZ

    months = MonthRange.last_months(12, datetime.now(LOCAL_TZ).date())
    alone: dict[str, float] = {}
    raw: dict[str, float] = {}
    with app.app_context():
        session = get_session()
        dashboard_plans(session)  # as the page does: each statement planned for its period, small reads
        service = DashboardService(session)
        rolled_part, _live = service.order_days(months.period)
        live_days = len(rolled_part[2]) if rolled_part else "all"
        rolled_part, _live = service.shipment_days(months.period)
        live_shipment_days = len(rolled_part[2]) if rolled_part else "all"
        alone["live days"] = _median_ms(lambda: (service._days.clear(), service.order_days(months.period),
                                                 service.shipment_days(months.period)))
        statements = service.statements(months)
        for name, statement in statements.items():
            alone[name] = _median_ms(lambda statement=statement: session.exec(statement).all())
        # The same figures straight from the raw rows (what the page would run without roll-ups),
        # each timed with the page's planner settings and with PostgreSQL's own (parallel workers):
        # the faster of the two is the reference.
        raw_statements = service.raw_statements(months)
        for name, statement in raw_statements.items():
            raw[name] = _median_ms(lambda statement=statement: session.exec(statement).all())
        session.rollback()
        custom_plans(session)
        for name, statement in raw_statements.items():
            raw[name] = min(raw[name], _median_ms(lambda statement=statement: session.exec(statement).all()))
        session.rollback()
        dashboard_plans(session)
        # Honest figures: the page's tables equal those summed from the raw rows.
        for name, make_table in (("monthly", lambda rows: service._monthly_table(months, rows)),
                                 ("cooperatives", service._cooperatives_table), ("categories", service._categories_table)):
            page_rows = make_table(session.exec(statements[name]).all()).rows
            assert page_rows == make_table(session.exec(raw_statements[name]).all()).rows, name
        session.rollback()
        plans = {}
        with db.engine.connect() as connection:
            connection.execute(text("SET random_page_cost = 1.1"))  # as dashboard_plans, for this connection
            connection.execute(text("SET max_parallel_workers_per_gather = 0"))
            for label, statement in (("monthly", statements["monthly"]), ("categories", statements["categories"]),
                                     ("cooperatives", statements["cooperatives"])):
                compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
                plans[label] = [row[0] for row in connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS OFF) {compiled}"))][:3]
    largest = max(alone, key=alone.get)
    largest_raw = max(raw, key=raw.get)
    print(f"  {len(changed)} orders and shipments delivered after the roll-up: {live_days} rolled-up days of orders "
          f"and {live_shipment_days} of shipments read live, and today")
    for name, ms in sorted(alone.items(), key=lambda item: -item[1]):
        print(f"  page statement alone: {name:<11} {ms:8.1f} ms")
    for name, ms in sorted(raw.items(), key=lambda item: -item[1]):
        print(f"  raw aggregate alone:  {name:<11} {ms:8.1f} ms")
    for name, lines in plans.items():
        print(f"  plan {name}: " + " / ".join(line.strip() for line in lines))
    print(f"dashboard render (warm, median of {RUNS}): {page_ms:.1f} ms; "
          f"(a) largest aggregate over the raw data alone ({largest_raw}): {raw[largest_raw]:.1f} ms, "
          f"ratio {page_ms / raw[largest_raw]:.2f} (goal ≤ 1.5); "
          f"(b) largest statement the page runs, alone ({largest}): {alone[largest]:.1f} ms, "
          f"ratio {page_ms / alone[largest]:.2f}")


if __name__ == "__main__":
    main()
