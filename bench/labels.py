"""Benchmark: a serialised print run of QR labels against bare QR generation.

Renders COUNT (default 10,000) unit labels, each with its own
``/21/{serial}`` Digital Link, onto an A4 4 × 10 sheet PDF, and in the same
process builds the QR matrices of the same payloads the plain qrcode way
(best-fit version and the default best-mask search for every code).  The
bare matrices are the floor any label renderer built on qrcode pays, so the
interesting figure is the ratio PDF time / matrix time; the goal is ≤ 1.5.

    python bench/labels.py [--count 10000] [--layout a4-4x10] [--out labels.pdf]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode  # noqa: E402

from traceability.labels import (  # noqa: E402
    LabelData,
    get_layout,
    print_warning,
    qr_version_for,
    render_sheet,
    serial_links,
)

BASE_URL = "https://id.nongsan.vn"
GTIN = "08934588012112"
LOT = "ST25-2024-07"
GOAL = 1.5


def bare_matrices(payloads: list[str]) -> None:
    for payload in payloads:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        code.add_data(payload)
        code.make(fit=True)
        code.get_matrix()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--layout", default="a4-4x10")
    parser.add_argument("--out", type=Path, help="also write the PDF here")
    args = parser.parse_args()
    layout = get_layout(args.layout)

    started = time.perf_counter()
    labels = [
        LabelData.from_link(
            link,
            BASE_URL,
            product_name="Gạo ST25 Sóc Trăng – túi 5 kg",
            harvest_date=date(2024, 7, 5),
            cooperative_name="HTX Nông nghiệp Hòa Tú",
            ocop_stars=4,
        )
        for link in serial_links(GTIN, LOT, args.count)
    ]
    build_s = time.perf_counter() - started
    payloads = [label.uri for label in labels]
    version = qr_version_for(payloads[-1])

    # Warm-up outside the timings: font registration, imports, caches.
    render_sheet(labels[:3], layout)
    bare_matrices(payloads[:3])

    progress_seen: list[tuple[int, int]] = []
    started = time.perf_counter()
    pdf = render_sheet(labels, layout, progress=lambda done, total: progress_seen.append((done, total)))
    pdf_s = time.perf_counter() - started

    started = time.perf_counter()
    bare_matrices(payloads)
    matrix_s = time.perf_counter() - started

    if args.out:
        args.out.write_bytes(pdf)
    ratio = pdf_s / matrix_s
    count = args.count
    pages = -(-count // layout.per_page)
    print(f"payload      {payloads[0]}  (QR version {version}, {len(payloads[0])} chars)")
    print(f"layout       {layout.name}: {pages} pages, {len(pdf) / 1e6:.1f} MB PDF")
    print(f"label data   {build_s:6.2f} s  ({count / build_s:8.0f} labels/s)  [not in the ratio]")
    print(f"PDF labels   {pdf_s:6.2f} s  ({count / pdf_s:8.0f} labels/s)")
    print(f"bare matrix  {matrix_s:6.2f} s  ({count / matrix_s:8.0f} codes/s, best-mask search)")
    print(f"progress     last call {progress_seen[-1]}, {len(progress_seen)} calls")
    warning = print_warning(layout, version)
    if warning:
        print("warning      " + warning.splitlines()[0])
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(
        f"RESULT {verdict}: {count} labels on {layout.name} at {count / pdf_s:.0f} labels/s, "
        f"bare qrcode {count / matrix_s:.0f} codes/s, ratio {ratio:.2f} (goal <= {GOAL})"
    )
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
