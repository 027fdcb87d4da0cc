"""Quote tasks per second on one worker process, next to a no-op Celery task measured in the same
run on the same Redis broker and the same worker (goal: quotes ≥ 0.8 of no-op).

    NONGSAN_BENCH_REDIS_URL=redis://127.0.0.1:6379/15 python -m bench.quotes

The worker is a real `celery worker` subprocess (solo pool: one process, one task at a time) that
loads this module, which adds the no-op task next to nongsan's own. Both kinds are sent in rounds
that alternate (no-op, quote, no-op, quote…), each round sending every task first and then
collecting every result. The machine is shared and its load swings from one second to the next,
so the figure is the median of the ratios of neighbouring rounds (a no-op round and the quote round
right after it run under nearly the same load); the medians and best rounds are printed as well. The quotes cycle through a
few hundred different parcels (provinces, weights, COD amounts), so the Redis quote cache sees
misses first and then hits, as a checkout does. PostgreSQL when NONGSAN_BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS_PER_ROUND = 500
ROUNDS = 10
PARCELS = 300

if os.environ.get("NONGSAN_BENCH_QUOTES_WORKER"):
    # Inside the worker subprocess: nongsan's Celery app plus the reference task.
    from workers.celery_worker import celery  # noqa: F401 - `celery -A bench.quotes` finds it here

    @celery.task(name="nongsan.bench.noop")
    def noop(*args) -> None:
        return None


def parcels() -> list[list[int]]:
    from kernel import address

    rng = random.Random(7)
    provinces = [code for code, _name in address.provinces()]
    chosen = []
    for _ in range(PARCELS):
        to = rng.choice(provinces)
        ward = rng.choice(address.wards(to))[0]
        chosen.append([92, to, ward, rng.choice((400, 900, 1_200, 2_500, 5_000, 10_000)),
                       rng.choice((0, 185_000, 370_000, 925_000, 2_000_000))])
    return chosen


def start_worker(settings: dict[str, str], log: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NONGSAN_")}
    env.update({f"NONGSAN_{key}": value for key, value in settings.items()})
    env.update(NONGSAN_BENCH_QUOTES_WORKER="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "celery", "-A", "bench.quotes", "worker", "--pool=solo", "--concurrency=1",
               "-Q", settings["CELERY_QUEUE"], "--without-gossip", "--without-mingle", "--without-heartbeat",
               f"--loglevel={os.environ.get('NONGSAN_BENCH_WORKER_LOGLEVEL', 'WARNING')}", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"]
    handle = open(log, "ab")
    worker = subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    return worker


def run_round(celery, name: str, work: list[list[int]]) -> float:
    started = time.perf_counter()
    pending = [celery.send_task(name, args=args) for args in work]
    for result in pending:
        result.get(timeout=120)
        result.forget()
    return len(work) / (time.perf_counter() - started)


def main() -> None:
    import base64
    import secrets
    import tempfile

    import redis

    from shop import create_app, migrate

    redis_url = os.environ.get("NONGSAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    folder = Path(tempfile.mkdtemp(prefix="nongsan-bench-quotes-"))
    database_url = os.environ.get("NONGSAN_BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    migrate.rebuild(database_url)
    settings = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": redis_url, "RESULT_BACKEND": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "https://nongsan.bench", "CELERY_QUEUE": f"nongsan-bench-{uuid.uuid4().hex[:8]}",
        "INSTANCE_PATH": str(folder),
    }
    app = create_app(dict(settings))
    celery = app.extensions["celery"]
    client = redis.Redis.from_url(redis_url)
    stale = list(client.scan_iter(match="nongsan:quote:*"))
    if stale:
        client.delete(*stale)
    worker = start_worker(settings, folder / "worker.log")
    try:
        # Warm up: the worker is ready once it answers, and both code paths are loaded.
        run_round(celery, "nongsan.bench.noop", [[0]] * 50)
        work = parcels()
        run_round(celery, "nongsan.postal.quote", work[:50])
        quote_work = [work[i % PARCELS] for i in range(TASKS_PER_ROUND)]
        noop_work = [list(args) for args in quote_work]  # the same arguments travel
        noop_rates, quote_rates = [], []
        for _ in range(ROUNDS):
            noop_rates.append(run_round(celery, "nongsan.bench.noop", noop_work))
            quote_rates.append(run_round(celery, "nongsan.postal.quote", quote_work))
        cached = sum(1 for _ in client.scan_iter(match="nongsan:quote:*"))
    finally:
        worker.terminate()
        worker.wait(30)
    log = (folder / "worker.log").read_text(errors="replace")
    runtimes = {name: [float(seconds) for seconds in re.findall(re.escape(name) + r"\[[^\]]+\] succeeded in ([0-9.e-]+)s", log)]
                for name in ("nongsan.bench.noop", "nongsan.postal.quote")}
    shutil.rmtree(folder, ignore_errors=True)
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    noop_median, quote_median = statistics.median(noop_rates), statistics.median(quote_rates)
    print(f"one worker process (solo pool), Redis broker and results, {backend}, {ROUNDS} alternating rounds of "
          f"{TASKS_PER_ROUND} tasks each")
    print(f"no-op task:  median {noop_median:,.0f} tasks/s, best {max(noop_rates):,.0f} "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in noop_rates)})")
    print(f"quote task:  median {quote_median:,.0f} tasks/s, best {max(quote_rates):,.0f} "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in quote_rates)}); {cached} quotes in the Redis cache")
    if all(runtimes.values()):  # NONGSAN_BENCH_WORKER_LOGLEVEL=INFO: the task bodies as the worker timed them
        print("inside the worker, median time per task: " + ", ".join(
            f"{name.rsplit('.', 1)[1]} {statistics.median(times) * 1e6:,.0f} µs" for name, times in runtimes.items()))
    paired = statistics.median(quote / noop for noop, quote in zip(noop_rates, quote_rates, strict=True))
    print(f"ratio quote / no-op: {paired:.2f} (median of neighbouring rounds); {quote_median / noop_median:.2f} "
          f"(medians), {max(quote_rates) / max(noop_rates):.2f} (best rounds) — goal ≥ 0.8")

if __name__ == "__main__":
    main()
