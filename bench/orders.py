"""Orders placed per second with 20 concurrent buyers on one hot product, and the oversell count
(must be 0), next to the same number of bare single-row inserts (one transaction each, 20 threads)
measured in the same run. PostgreSQL when NONGSAN_BENCH_DATABASE_URL is set, else SQLite."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from bench._world import cooperative_with_batch, fresh_app
from shop.catalog.models import Batch
from kernel.db import db, unit_of_work
from shop.orders.schemas import CartLine, CheckoutData

BUYERS = 20
ATTEMPTS = 600
STOCK = 400  # units on the hot batch: 200 buyers must be turned away


def run_threads(work) -> float:
    counter = iter(range(ATTEMPTS))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            work(n)

    threads = [threading.Thread(target=worker) for _ in range(BUYERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    from kernel import address
    from shop.orders.services import OrderService

    app = fresh_app()
    _cooperative, _gtin, batch_id = cooperative_with_batch(app, lot="HOT-1")
    with app.app_context(), unit_of_work() as session:
        batch = session.get(Batch, batch_id)
        batch.stock_units = STOCK
    ward = address.wards(79)[0][0]
    data = CheckoutData(buyer_name="Người mua", buyer_phone="0903123456", province_code=79, ward_code=ward, street="12 Lê Lợi")
    outcomes = {"sold": 0, "refused": 0, "error": 0}
    lock = threading.Lock()

    def buy(n: int) -> None:
        with app.app_context():
            try:
                with unit_of_work() as session:
                    OrderService(session).place(f"bench-{n:06d}", [CartLine(batch_id=batch_id, quantity=1)], data)
                result = "sold"
            except Exception as error:  # noqa: BLE001
                result = "refused" if getattr(error, "field", None) == "quantity" else "error"
        with lock:
            outcomes[result] += 1

    with app.app_context():
        elapsed = run_threads(buy)
        engine = db.engine
        with engine.begin() as connection:
            remaining = connection.execute(text("SELECT stock_units FROM batch WHERE id = :id"), {"id": batch_id}).scalar_one()
            orders = connection.execute(text("SELECT count(*) FROM customer_order")).scalar_one()
            connection.execute(text("CREATE TABLE IF NOT EXISTS bench_insert (id INTEGER PRIMARY KEY, note VARCHAR(40))"))

        def insert(n: int) -> None:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO bench_insert (id, note) VALUES (:id, :note)"), {"id": n, "note": "x"})

        bare = run_threads(insert)
    oversold = max(0, orders - STOCK) + (1 if remaining < 0 else 0)
    print(f"{ATTEMPTS} checkouts by {BUYERS} buyers for {STOCK} units: {ATTEMPTS / elapsed:,.0f} attempts/s "
          f"({outcomes['sold']} sold, {outcomes['refused']} refused, {outcomes['error']} errors), oversold {oversold}, "
          f"stock left {remaining}; bare single-row inserts: {ATTEMPTS / bare:,.0f}/s; ratio {bare / elapsed:.2f}")


if __name__ == "__main__":
    main()
