"""Scan page throughput under gunicorn, as a ratio to a bare Flask hello-world served the same way
(same gunicorn settings, same load from a second process, same run). Goal: ratio >= 0.6, with p99.

Needs `wrk` (Debian package). Uses PostgreSQL/Redis when NONGSAN_BENCH_DATABASE_URL /
NONGSAN_BENCH_REDIS_URL are set, else SQLite and database scan counters.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench._world import cooperative_with_batch, fresh_app

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--log-level", "warning"]
LOAD = ["-t2", "-c16", "-d8s", "--latency"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(target: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([*GUNICORN, "--bind", f"127.0.0.1:{port}", target], cwd=ROOT, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{target} did not start")


def load(url: str) -> tuple[float, str]:
    output = subprocess.run(["wrk", *LOAD, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", output).group(1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} error responses from {url}")
    return rate, p99


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("install wrk first: apt-get install -y wrk")
    app = fresh_app()
    _cooperative, gtin, _batch = cooperative_with_batch(app, lot="SCAN-1")
    env = dict(os.environ)
    env.update({f"NONGSAN_{k}": str(app.config[k]) for k in ("DATABASE_URL", "SECRET_KEY", "KEY_ENCRYPTION_KEY", "PUBLIC_BASE_URL", "BROKER_URL")})
    env["NONGSAN_INSTANCE_PATH"] = app.instance_path
    if os.environ.get("NONGSAN_BENCH_REDIS_URL"):
        env["NONGSAN_REDIS_URL"] = os.environ["NONGSAN_BENCH_REDIS_URL"]
    results = {}
    for name, target, path in (("hello", "bench.hello:app", "/"), ("scan", "shop.wsgi:app", f"/01/{gtin}/10/SCAN-1")):
        process, port = serve(target, env)
        try:
            load(f"http://127.0.0.1:{port}{path}")  # warm-up, also fills caches
            results[name] = load(f"http://127.0.0.1:{port}{path}")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
    (hello, hello_p99), (scan, scan_p99) = results["hello"], results["scan"]
    print(f"scan page: {scan:,.0f} req/s (p99 {scan_p99}); hello-world: {hello:,.0f} req/s (p99 {hello_p99}); "
          f"ratio {scan / hello:.2f} (goal >= 0.6)")


if __name__ == "__main__":
    main()
