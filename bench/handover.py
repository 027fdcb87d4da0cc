"""Order hand-over → the partner's webhook: how long from the commit that hands an order to the
post (the order is placed; its shipment job goes through the outbox) until the partner's endpoint,
a real local HTTP server checking the Standard Webhooks signature, has the shipment. Two task hops
on a real worker process: prepare_shipment (quote, shipment job, delivery row) and deliver_webhook
(the signed POST). p50 and p95 over N orders, one at a time.

References measured in the same run: the round trip of a no-op task through the same broker and
worker (send → run → result), and a bare signed POST to the same endpoint.

PostgreSQL and Redis with NONGSAN_BENCH_DATABASE_URL and NONGSAN_BENCH_REDIS_URL, else SQLite and
the embedded broker (which polls once a second: expect seconds there, and run fewer orders).

    python -m bench.handover [ORDERS]
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from shop import create_app, migrate
from kernel.db import after_commit, unit_of_work

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 10


class Endpoint:
    """The partner: verifies each webhook and notes when each order's shipment arrived."""

    def __init__(self, secret: str) -> None:
        from workers import webhooks

        self.secret = secret
        self.arrived: dict[str, float] = {}
        self.bad = 0
        self.changed = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.perf_counter()
                try:
                    webhooks.verify([endpoint.secret], {k.lower(): v for k, v in self.headers.items()}, body)
                    order = json.loads(body).get("data", {}).get("order", "bare")
                except (webhooks.WebhookError, ValueError, AttributeError):
                    endpoint.bad += 1
                    order = None
                self.send_response(200 if order else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if order:
                    with endpoint.changed:
                        endpoint.arrived.setdefault(order, now)
                        endpoint.changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, order: str, timeout: float = 60) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: order in self.arrived, timeout):
                raise TimeoutError(f"no webhook for {order}")
            return self.arrived[order]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    orders_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    folder = Path(tempfile.mkdtemp(prefix="nongsan-handover-"))
    database = os.environ.get("NONGSAN_BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    redis = os.environ.get("NONGSAN_BENCH_REDIS_URL")
    migrate.rebuild(database)
    settings = {
        "DATABASE_URL": database,
        "BROKER_URL": redis or f"sqla+sqlite:///{folder / 'broker.sqlite3'}",
        "RESULT_BACKEND": redis or f"db+sqlite:///{folder / 'results.sqlite3'}",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.bench",
        "CELERY_QUEUE": f"nongsan-bench-{uuid.uuid4().hex[:8]}",
        "INSTANCE_PATH": str(folder),
    }
    if redis:
        settings["REDIS_URL"] = redis
    app = create_app({**settings, "REDIS_URL": redis, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})

    from bench._world import cooperative_with_batch
    from shop.catalog.models import Batch
    from shop.orders.schemas import CartLine, CheckoutData
    from shop.orders.services import OrderService
    from workers import webhooks
    from workers.postal.models import Partner

    endpoint = Endpoint(webhooks.new_secret())
    _cooperative, _gtin, batch_id = cooperative_with_batch(app, lot="HANDOVER-1")
    with app.app_context(), unit_of_work() as session:
        session.get(Batch, batch_id).stock_units = orders_wanted + WARM_UP + 10
        session.add(Partner(name="Bưu điện đo hiệu năng", province_code=92, is_default=True,
                            webhook_url=endpoint.url, webhook_secrets=endpoint.secret))

    env = {k: v for k, v in os.environ.items() if not k.startswith("NONGSAN_")}
    env.update({f"NONGSAN_{k}": v for k, v in settings.items()})
    env["PYTHONPATH"] = str(ROOT)
    with open(folder / "worker.log", "wb") as log:
        worker = subprocess.Popen(  # the child keeps its own copy of the log's file descriptor
            [sys.executable, "-m", "celery", "-A", "workers.celery_worker", "worker", "--pool=solo", "--concurrency=1",
             "-Q", settings["CELERY_QUEUE"], "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=WARNING", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        celery = app.extensions["celery"]
        with app.app_context():
            celery.send_task("nongsan.workers.ping").get(timeout=120)  # the worker is up

        ward = __import__("kernel.address", fromlist=["wards"]).wards(79)[0][0]
        data = CheckoutData(buyer_name="Người mua", buyer_phone="0903123456", province_code=79, ward_code=ward,
                            street="12 Lê Lợi")
        handover: list[float] = []
        for n in range(WARM_UP + orders_wanted):
            committed: list[float] = []
            with app.app_context(), unit_of_work() as session:
                # Registered first, so it runs the moment the order's transaction has committed,
                # before the outbox relay hands the job to the broker.
                after_commit(session, lambda stamps=committed: stamps.append(time.perf_counter()))
                reference = OrderService(session).place(f"handover-{n:05d}", [CartLine(batch_id=batch_id, quantity=1)], data)[0].reference
            arrived = endpoint.wait_for(reference)
            if n >= WARM_UP:
                handover.append((arrived - committed[0]) * 1000)

        noop: list[float] = []
        with app.app_context():
            for n in range(WARM_UP + orders_wanted):
                started = time.perf_counter()
                celery.send_task("nongsan.workers.ping").get(timeout=60)
                if n >= WARM_UP:
                    noop.append((time.perf_counter() - started) * 1000)

        bare: list[float] = []
        with httpx.Client() as client:
            for n in range(WARM_UP + orders_wanted):
                body = json.dumps({"type": "ping", "data": {"order": f"bare-{n}"}}).encode()
                started = time.perf_counter()
                client.post(endpoint.url, content=body, headers=webhooks.sign_headers([endpoint.secret], f"msg_bare_{n}", body))
                if n >= WARM_UP:
                    bare.append((time.perf_counter() - started) * 1000)
    finally:
        worker.terminate()
        worker.wait(30)
        endpoint.server.shutdown()

    kind = "PostgreSQL + Redis" if redis else "SQLite + embedded broker"
    h50, h95 = percentiles(handover)
    n50, n95 = percentiles(noop)
    b50, b95 = percentiles(bare)
    print(f"hand-over → partner webhook, {orders_wanted} orders one at a time, {kind}, one worker process (solo pool)")
    print(f"  hand-over → webhook received        p50 {h50:8.1f} ms   p95 {h95:8.1f} ms")
    print(f"  reference: no-op task round trip    p50 {n50:8.1f} ms   p95 {n95:8.1f} ms")
    print(f"  reference: bare signed POST         p50 {b50:8.1f} ms   p95 {b95:8.1f} ms")
    print(f"  ratio hand-over / no-op round trip: p50 {h50 / n50:.1f}×, p95 {h95 / n95:.1f}×; "
          f"signature failures at the endpoint: {endpoint.bad}")


if __name__ == "__main__":
    main()
