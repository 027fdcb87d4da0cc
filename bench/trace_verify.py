"""Full verification of a 50-event batch from the database (signatures, certificate chain, key
status, hash chain, log inclusion), next to bare Ed25519 verification of the same 50 signatures in
the same run. Goal: at most 20 ms."""

from __future__ import annotations

import statistics
import time
from datetime import date

from bench._world import cooperative_with_batch, fresh_app
from shop.catalog.schemas import TraceEventCreate
from shop.catalog.services import CatalogService
from kernel.db import get_session, unit_of_work
from sqlmodel import select

from traceability import crypto, x509ca
from traceability.models import Credential
from traceability.schemas import BatchRef
from traceability.services import CredentialService, VerificationService, key_service


def main() -> None:
    app = fresh_app()
    cooperative_id, gtin, batch_id = cooperative_with_batch(app)
    with app.app_context(), unit_of_work() as session:
        catalog = CatalogService(session, cooperative_id, alliance_gs1_prefix=app.config["GS1_COMPANY_PREFIX"],
                                 credentials=CredentialService(session, key_service(session)))
        for _ in range(49):
            catalog.record_event(batch_id, TraceEventCreate(kind="inspection", event_date=date.today()))
    with app.app_context():
        session = get_session()
        service = VerificationService(session, key_service(session))
        batch = BatchRef(gtin, "BENCH-1")
        assert len(service.verify_batch(batch).credentials) == 50 and service.verify_batch(batch).ok
        tokens = list(session.exec(select(Credential.jws).where(Credential.gtin == gtin).order_by(Credential.seq)))
        from traceability import verification

        cold = []
        for _ in range(5):
            verification._checked_token.cache_clear()
            verification._chain_structure.cache_clear()
            verification._certificate.cache_clear()
            started = time.perf_counter()
            assert service.verify_batch(batch).ok
            cold.append((time.perf_counter() - started) * 1000)
        full, bare = [], []
        for _ in range(30):
            started = time.perf_counter()
            result = service.verify_batch(batch)
            full.append((time.perf_counter() - started) * 1000)
            assert result.ok
            started = time.perf_counter()
            for token in tokens:
                header = crypto.jws_parse_unverified(token)[0]
                crypto.jws_verify(token, x509ca.cert_from_der_b64(header["x5c"][0]).public_key())
            bare.append((time.perf_counter() - started) * 1000)
    median_full, median_bare = statistics.median(full), statistics.median(bare)
    p95 = sorted(full)[int(len(full) * 0.95) - 1]
    print(f"verify 50-event batch: median {median_full:.1f} ms warm (p95 {p95:.1f} ms), "
          f"{statistics.median(cold):.1f} ms cold (empty caches); goal <= 20 ms; "
          f"bare signature checks of the same 50: {median_bare:.1f} ms; ratio {median_full / median_bare:.2f}x")


if __name__ == "__main__":
    main()
