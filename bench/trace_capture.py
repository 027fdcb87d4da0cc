"""Bulk EPCIS capture: 1,000 events in one request (validate + sign + store + log append), events
per second on one core, next to bare Ed25519 signing of the same payloads in the same run.
Goal: capture reaches at least 25 % of bare signing."""

from __future__ import annotations

import json
import statistics
import time

from bench._world import cooperative_with_batch, fresh_app
from shop.accounts.apikeys import ApiKeyService
from kernel.db import unit_of_work
from traceability import crypto

EVENTS = 1000


def capture_document(gtin: str, lot: str) -> dict:
    events = [{
        "type": "ObjectEvent", "eventTime": f"2026-11-20T{8 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}+07:00",
        "eventTimeZoneOffset": "+07:00", "action": "OBSERVE", "bizStep": "inspecting", "disposition": "conformant",
        "quantityList": [{"epcClass": f"https://id.gs1.org/01/{gtin}/10/{lot}", "quantity": 1 + i % 50, "uom": "KGM"}],
    } for i in range(EVENTS)]
    return {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], "type": "EPCISDocument",
            "schemaVersion": "2.0", "creationDate": "2026-11-20T08:00:00Z", "epcisBody": {"eventList": events}}


def main() -> None:
    app = fresh_app()
    cooperative_id, gtin, _batch_id = cooperative_with_batch(app)
    with app.app_context(), unit_of_work() as session:
        _key, token = ApiKeyService(session).create("cooperative", cooperative_id, "bench")
    client = app.test_client()
    capture_rates, bare_rates = [], []
    for round_number in range(3):
        document = capture_document(gtin, "BENCH-1")
        started = time.perf_counter()
        response = client.post("/epcis/capture", json=document, headers={"Authorization": f"Bearer {token}"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.get_data(as_text=True)[:500]
        capture_rates.append(EVENTS / elapsed)

        # Reference: sign the same event payloads with a bare key, nothing else.
        key = crypto.generate_ed25519()
        payloads = [json.dumps(e, separators=(",", ":"), sort_keys=True).encode() for e in document["epcisBody"]["eventList"]]
        started = time.perf_counter()
        for payload in payloads:
            key.sign(payload)
        bare_rates.append(EVENTS / (time.perf_counter() - started))
    capture, bare = statistics.median(capture_rates), statistics.median(bare_rates)
    print(f"capture of {EVENTS} events: {capture:,.0f} events/s; bare Ed25519 signing: {bare:,.0f} signatures/s; "
          f"ratio {capture / bare:.1%} (goal >= 25%)")


if __name__ == "__main__":
    main()
