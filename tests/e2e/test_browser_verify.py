"""The trace page's "check it yourself" button, in a real Chromium against the running service.

static/js/verify.js re-does the server's verification (traceability/verification.py) in the
buyer's browser with WebCrypto. These journeys open a batch's Digital Link, press the button and
read the steps it shows: an honest proof file passes every step; a proof file altered on the way
(served through `page.route`) fails at the step that names the alteration. Where the server can
judge the same file, the browser's failures must be exactly the server's: the script is a mirror,
not a second opinion. The page must not talk to any host but the service itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from shop.catalog.schemas import BatchCreate, TraceEventCreate
from shop.catalog.services import CatalogService
from kernel.db import unit_of_work
from tests.e2e.browser import RecordingPage, chromium
from tests.factories import Factory
from tests.live import LiveStack
from traceability import crypto, merkle, x509ca
from traceability.models import KeyOwnerKind
from traceability.schemas import BatchRef, IssuerRef
from traceability.services import CredentialService, RecallService, key_service
from traceability.verification import Evidence, verify_evidence

pytestmark = pytest.mark.e2e

STEPS_PER_CREDENTIAL = ("signature", "certificate", "key_status", "subject", "hash_chain", "log_inclusion")
FINISHED = '#self-verify-result:not([data-state="idle"]):not([data-state="running"])'


@dataclass(frozen=True)
class Batch:
    gtin: str
    lot: str
    url: str
    batch_id: int | None = None
    cooperative_id: int | None = None

    @property
    def bundle_path(self) -> str:
        return f"/api/bundle/01/{self.gtin}/10/{self.lot}"


# -- the running service and its data ------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """As tests/e2e/conftest.py's `live`, once for the module: the scenarios only read the batches
    they make (each on its own cooperative when it changes key state), and a stack per test would
    mostly time migrations."""
    stack = LiveStack(tmp_path_factory.mktemp("browser-verify"))
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def make_batch(live, lot: str, *, events: tuple[str, ...] = ("packing", "inspection")) -> Batch:
    """An approved cooperative (its own, so key changes stay local), a product and a harvested
    batch, then further signed events: one credential each, chained and logged."""
    with live.app.app_context(), unit_of_work() as session:
        factory = Factory(live.app, session)
        cooperative = factory.cooperative(name=f"HTX Lúa thơm {lot}")
        product = factory.product(cooperative)
        catalog = factory.catalog(cooperative)
        batch = catalog.create_batch(product.id, BatchCreate(
            lot=lot, harvest_date=date.today() - timedelta(days=4), plot="Ruộng số 7", variety="ST25",
            cultivation_standard="VietGAP", quantity_kg=Decimal("800")))
        for kind in events:
            catalog.record_event(batch.id, TraceEventCreate(
                kind=kind, event_date=date.today(), certificate_no="VG-0042", inspector="Ông Ba"))
        made = Batch(product.gtin, lot, f"{live.base_url}/01/{product.gtin}/10/{lot}", batch.id, cooperative.id)
    return made


def catalog_of(live, session, cooperative_id: int) -> CatalogService:
    return CatalogService(session, cooperative_id, alliance_gs1_prefix=live.app.config["GS1_COMPANY_PREFIX"],
                          credentials=CredentialService(session, key_service(session)))


@pytest.fixture(scope="module")
def batch(live) -> Batch:
    return make_batch(live, "ST25-2611")


def fetch_bundle(live, batch: Batch) -> dict:
    response = httpx.get(live.base_url + batch.bundle_path, timeout=20)
    response.raise_for_status()
    return response.json()


# -- the browser ---------------------------------------------------------------------------------
@pytest.fixture
def visit(browser, live):
    """visit(batch, tamper=None, serve=None, init_script=None) -> (state, steps, page): open the
    Digital Link, press the button, wait for the verdict. `tamper(bundle)` edits the proof file on
    its way to the page; `serve(route)` answers the bundle request itself; `init_script` runs
    before the page's own scripts. Afterwards: no foreign host, no uncaught page error."""
    opened: list[RecordingPage] = []

    def run(batch: Batch, tamper=None, serve=None, init_script=None):
        recording = RecordingPage(browser)
        opened.append(recording)
        page = recording.page
        if init_script:
            page.add_init_script(init_script)
        if tamper is not None:
            def handler(route):
                original = route.fetch()
                bundle = original.json()
                tamper(bundle)
                route.fulfill(response=original, body=json.dumps(bundle, ensure_ascii=False))
            page.route("**/api/bundle/**", handler)
        elif serve is not None:
            page.route("**/api/bundle/**", serve)
        page.goto(batch.url)
        assert page.get_attribute("#self-verify-result", "data-state") == "idle"
        page.click("#self-verify-button")
        page.wait_for_selector(FINISHED, state="attached", timeout=20_000)
        state = page.get_attribute("#self-verify-result", "data-state")
        steps = page.eval_on_selector_all(
            "#self-verify-steps li", "items => items.map(li => ({...li.dataset, text: li.textContent}))")
        return state, steps, page

    yield run
    for recording in opened:
        try:
            assert recording.requests, "the page made no request at all"
            assert recording.hosts() == {"127.0.0.1"}, f"requests left the service: {recording.requests}"
            assert not recording.errors, f"uncaught errors in the page: {recording.errors}"
        finally:
            recording.close()


def browser_failures(steps: list[dict]) -> set[tuple[int, str, str]]:
    return {(int(s.get("seq", 0)), s["step"], s.get("reason", "")) for s in steps if s["ok"] != "true"}


def server_failures(bundle: dict) -> set[tuple[int, str, str]]:
    """The Python verifier's verdict on the same file, in the browser's vocabulary: the browser
    names every checkpoint problem `bad_checkpoint`, on the checkpoint step and on each record."""
    result = verify_evidence(Evidence.from_bundle(bundle))
    failures = {(0, "checkpoint", "bad_checkpoint") for p in result.problems if not p.ok and p.name == "checkpoint"}
    for credential in result.credentials:
        for check in credential.checks:
            if not check.ok:
                reason = "bad_checkpoint" if check.reason == "no_checkpoint" else check.reason
                failures.add((credential.seq, check.name, reason))
    return failures


def step(steps: list[dict], name: str, seq: int | None = None) -> dict:
    found = [s for s in steps if s["step"] == name and int(s.get("seq", 0)) == (seq or 0)]
    assert len(found) == 1, f"no single {name!r} step for record {seq}: {steps}"
    return found[0]


# -- editing a proof file ------------------------------------------------------------------------
def jws_parts(token: str) -> tuple[dict, dict, str]:
    header_s, payload_s, signature = token.split(".")
    return (json.loads(crypto.b64url_decode(header_s)), json.loads(crypto.b64url_decode(payload_s)), signature)


def with_payload(token: str, payload: dict) -> str:
    header_s, _payload, signature = token.split(".")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return f"{header_s}.{crypto.b64url_encode(body)}.{signature}"


def resigned(token: str, private_key, certificate) -> str:
    """The same header and payload, signed again by `private_key` with `certificate` as x5c."""
    header, payload, _signature = jws_parts(token)
    header["x5c"] = [x509ca.cert_to_der_b64(certificate)]
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return crypto.jws_sign(body, private_key, header)


def sha(token: str) -> str:
    return crypto.sha256_hex(token.encode("ascii"))


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


# -- honest files --------------------------------------------------------------------------------
def test_honest_batch_passes_every_step_in_the_browser(visit, live, batch):
    state, steps, page = visit(batch)

    assert state == "ok", steps
    assert page.text_content("#self-verify-result") == "Đã tự kiểm tra: tất cả hợp lệ"
    assert all(s["ok"] == "true" for s in steps), steps
    credentials = fetch_bundle(live, batch)["credentials"]
    assert len(credentials) == 3
    names = [(int(s.get("seq", 0)), s["step"]) for s in steps]
    assert names == [(0, "root"), (0, "checkpoint"), (0, "records")] + [
        (seq, name) for seq in (1, 2, 3) for name in STEPS_PER_CREDENTIAL]
    labels = " ".join(s["text"] for s in steps)
    for label in ("Chứng thư gốc của Liên minh", "Chữ ký", "Chứng thư số", "Chuỗi băm", "Nhật ký minh bạch"):
        assert label in labels
    assert server_failures(fetch_bundle(live, batch)) == set()


def test_the_page_talks_only_to_the_service(visit, batch):
    _state, _steps, page = visit(batch)
    requested = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert any("/static/js/verify.js" in url for url in requested)
    assert any("/api/bundle/01/" in url for url in requested)
    assert all(url.startswith("http://127.0.0.1:") for url in requested), requested


def test_an_alliance_recall_signed_with_the_root_itself_passes(visit, live):
    """A recall record is signed by the alliance with its root key: leaf == root, no chain to check,
    and the alliance may write into a cooperative's batch."""
    batch = make_batch(live, "RECALL-1", events=("packing",))
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        alliance = IssuerRef(KeyOwnerKind.ALLIANCE, None, live.app.config["ALLIANCE_NAME"])
        location = {"type": ["Location"], "id": f"{live.base_url}/", "name": alliance.name, "address": "Cần Thơ"}
        RecallService(session, CredentialService(session, keys)).recall(
            alliance, BatchRef(batch.gtin, batch.lot), "Phát hiện dư lượng thuốc bảo vệ thực vật", "alliance", location)

    state, steps, _page = visit(batch)

    assert state == "ok", steps
    assert len([s for s in steps if s["step"] == "signature"]) == 3
    assert server_failures(fetch_bundle(live, batch)) == set()


def test_a_processing_record_counts_for_the_batch_it_made(visit, live):
    """Milling writes one record into both chains; in the output batch's chain it is about this
    batch only through its outputs."""
    source = make_batch(live, "THOC-1", events=())
    with live.app.app_context(), unit_of_work() as session:
        catalog_of(live, session, source.cooperative_id).record_event(source.batch_id, TraceEventCreate(
            kind="processing", event_date=date.today(), input_kg=Decimal("500"), output_kg=Decimal("320"), output_lot="GAO-1"))
    made = Batch(source.gtin, "GAO-1", f"{live.base_url}/01/{source.gtin}/10/GAO-1")
    bundle = fetch_bundle(live, made)
    _header, payload, _signature = jws_parts(bundle["credentials"][0])
    assert payload["credentialSubject"][0]["outputQuantityList"][0]["productId"].endswith("/10/GAO-1")

    state, steps, _page = visit(made)

    assert state == "ok", steps
    assert server_failures(bundle) == set()


def test_a_key_revoked_after_signing_still_vouches_through_the_dated_log_proof(visit, live):
    batch = make_batch(live, "REVOKE-LATE", events=("packing",))
    kid = jws_parts(fetch_bundle(live, batch)["credentials"][0])[0]["kid"]
    with live.app.app_context(), unit_of_work() as session:
        key_service(session).revoke(kid, "Máy tính bảng bị mất", at=datetime.now(timezone.utc))

    bundle = fetch_bundle(live, batch)
    assert all("dated" in proof for proof in bundle["log"]["proofs"].values())
    state, steps, _page = visit(batch)

    assert state == "ok", steps
    assert server_failures(bundle) == set()


def test_a_key_revoked_before_signing_fails_key_status_like_the_server(visit, live):
    batch = make_batch(live, "REVOKE-EARLY", events=("packing",))
    kid = jws_parts(fetch_bundle(live, batch)["credentials"][0])[0]["kid"]
    with live.app.app_context(), unit_of_work() as session:
        key_service(session).revoke(kid, "Khoá bị lộ", at=datetime.now(timezone.utc) - timedelta(days=1))

    state, steps, page = visit(batch)

    assert state == "failed"
    assert browser_failures(steps) == {(1, "key_status", "key_revoked"), (2, "key_status", "key_revoked")}
    assert browser_failures(steps) == server_failures(fetch_bundle(live, batch))
    assert page.get_attribute("#verification", "data-verified") == "false"


def test_a_stolen_key_cannot_be_dated_by_a_log_key_the_file_brings(visit, live):
    """The thief of a revoked key signs, then "proves" the record was logged before the revocation
    with a checkpoint of their own log key. The log key is the pinned root's, so the browser
    refuses. (When this was written, traceability/verification.py checked checkpoints with
    bundle.log.publicKey and accepted this file, even under `nongsan verify --root-sha256`.)"""
    batch = make_batch(live, "STOLEN-1", events=())
    kid = jws_parts(fetch_bundle(live, batch)["credentials"][0])[0]["kid"]
    with live.app.app_context(), unit_of_work() as session:
        key_service(session).revoke(kid, "Khoá bị đánh cắp", at=datetime.now(timezone.utc) - timedelta(days=1))
    thief = crypto.generate_ed25519()

    def tamper(bundle):
        origin, token = bundle["log"]["origin"], bundle["credentials"][0]
        body = merkle.format_checkpoint(origin, 1, merkle.leaf_hash(token.encode())) + "nongsan-time 2020-01-01T00:00:00+00:00\n"
        note = merkle.sign_note(body, origin, thief)
        proof = {"index": 0, "tree_size": 1, "proof": []}
        bundle["log"].update(publicKey=crypto.b64url_encode(crypto.public_key_raw(thief)), checkpoint=note,
                             proofs={sha(token): dict(proof, dated=dict(proof, checkpoint=note))})

    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert browser_failures(steps) == {(0, "checkpoint", "bad_checkpoint"), (1, "key_status", "key_revoked"),
                                       (1, "log_inclusion", "bad_checkpoint")}
    assert "unknown_key" in step(steps, "checkpoint")["text"]


@pytest.mark.parametrize("missing", [
    "Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined})",
    "const importKey = SubtleCrypto.prototype.importKey; SubtleCrypto.prototype.importKey = function (f, k, a, ...r) {"
    " return a && a.name === 'Ed25519' ? Promise.reject(new DOMException('no', 'NotSupportedError')) : importKey.call(this, f, k, a, ...r) }",
], ids=["no-webcrypto", "no-ed25519"])
def test_a_browser_without_ed25519_says_so_instead_of_failing_the_batch(visit, batch, missing):
    state, _steps, page = visit(batch, init_script=missing)

    assert state == "error"
    assert "Ed25519" in page.text_content("#self-verify-result")


# -- altered files -------------------------------------------------------------------------------
def test_a_flipped_signature_character_fails_that_records_signature(visit, live, batch):
    def tamper(bundle):
        token = bundle["credentials"][1]
        header_s, payload_s, signature = token.split(".")
        bundle["credentials"][1] = f"{header_s}.{payload_s}.{flip(signature, 10)}"
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, page = visit(batch, tamper)

    assert state == "failed"
    failing = step(steps, "signature", 2)
    assert failing["ok"] == "false" and failing["reason"] == "bad_signature"
    assert "bad_signature" in failing["text"] and "Chữ ký" in failing["text"]
    assert step(steps, "signature", 1)["ok"] == "true" and step(steps, "signature", 3)["ok"] == "true"
    # The next record points at the real second record, not at the altered text.
    assert step(steps, "hash_chain", 3)["reason"] == "broken_chain"
    assert page.text_content("#self-verify-result").startswith("Phát hiện sai lệch ở bước Bản ghi 2 · Chữ ký")
    # The script judges the file it got, whatever the server's own badge says.
    assert page.get_attribute("#verification", "data-verified") == "true"
    assert browser_failures(steps) == server_failures(tampered)


def test_a_changed_plot_breaks_the_harvest_signature(visit, batch):
    def tamper(bundle):
        _header, payload, _signature = jws_parts(bundle["credentials"][0])
        assert payload["credentialSubject"][0]["ilmd"]["plot"] == "Ruộng số 7"
        payload["credentialSubject"][0]["ilmd"]["plot"] = "Ruộng số 1 (đất sạch)"
        bundle["credentials"][0] = with_payload(bundle["credentials"][0], payload)
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "signature", 1)["reason"] == "bad_signature"
    assert browser_failures(steps) == server_failures(tampered) == {
        (1, "signature", "bad_signature"), (2, "hash_chain", "broken_chain")}


def test_a_dropped_log_proof_is_not_in_the_log(visit, batch):
    def tamper(bundle):
        del bundle["log"]["proofs"][sha(bundle["credentials"][0])]
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert browser_failures(steps) == server_failures(tampered) == {(1, "log_inclusion", "not_in_log")}


def test_an_altered_inclusion_proof_is_refused(visit, batch):
    def tamper(bundle):
        proof = bundle["log"]["proofs"][sha(bundle["credentials"][1])]["proof"]
        first = bytearray(crypto.b64url_decode(proof[0]))
        first[0] ^= 1
        proof[0] = crypto.b64url_encode(bytes(first))
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert browser_failures(steps) == server_failures(tampered) == {(2, "log_inclusion", "bad_inclusion_proof")}


def test_a_checkpoint_with_a_changed_size_is_refused(visit, batch):
    def tamper(bundle):
        lines = bundle["log"]["checkpoint"].split("\n")
        lines[1] = str(int(lines[1]) - 1)
        bundle["log"]["checkpoint"] = "\n".join(lines)
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "checkpoint")["reason"] == "bad_checkpoint"
    assert "bad_signature" in step(steps, "checkpoint")["text"]
    assert browser_failures(steps) == server_failures(tampered) == {(0, "checkpoint", "bad_checkpoint")} | {
        (seq, "log_inclusion", "bad_checkpoint") for seq in (1, 2, 3)}


def test_swapped_records_are_reordered(visit, batch):
    def tamper(bundle):
        credentials = bundle["credentials"]
        credentials[1], credentials[2] = credentials[2], credentials[1]
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert browser_failures(steps) == server_failures(tampered) == {
        (2, "hash_chain", "reordered"), (3, "hash_chain", "reordered")}


def test_a_bundle_bringing_its_own_root_stops_at_the_root(visit, live, batch):
    name = live.app.config["ALLIANCE_NAME"]
    _key, impostor = x509ca.create_root(f"{name} Root CA", name)

    def tamper(bundle):
        bundle["rootCertificate"] = x509ca.cert_to_pem(impostor)

    state, steps, page = visit(batch, tamper)

    assert state == "failed"
    assert [(s["step"], s["ok"], s.get("reason")) for s in steps] == [("root", "false", "root_mismatch")]
    assert "root_mismatch" in page.text_content("#self-verify-result")


def test_a_certificate_from_another_ca_with_the_alliance_name_fails_the_issuer_signature(visit, live, batch):
    """Same issuer name as the alliance root, different key: only the signature tells them apart."""
    name = live.app.config["ALLIANCE_NAME"]
    impostor_key, impostor_root = x509ca.create_root(f"{name} Root CA", name)
    member_key = crypto.generate_ed25519()
    certificate = x509ca.issue_certificate(impostor_key, impostor_root, member_key.public_key(), "HTX giả", "HTX giả")

    def tamper(bundle):
        bundle["credentials"][0] = resigned(bundle["credentials"][0], member_key, certificate)
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "signature", 1)["ok"] == "true"  # the forger's own signature is fine…
    assert step(steps, "certificate", 1)["reason"] == "bad_issuer_signature"  # …its certificate is not
    assert browser_failures(steps) == server_failures(tampered)


@pytest.mark.parametrize(("shift", "reason"), [(timedelta(days=-30), "expired"), (timedelta(days=30), "not_yet_valid")])
def test_a_certificate_outside_its_validity_at_signing_time(visit, live, batch, shift, reason):
    """Really issued by the alliance root, but not valid when the record says it was signed."""
    with live.app.app_context(), unit_of_work() as session:
        keys = key_service(session)
        root = keys.alliance_root()
        root_key, root_certificate = keys.private_key(root), x509ca.cert_from_pem(root.certificate_pem)
    member_key = crypto.generate_ed25519()
    start = datetime.now(timezone.utc) + shift
    certificate = x509ca.issue_certificate(root_key, root_certificate, member_key.public_key(), "HTX", "HTX",
                                           valid_days=1, not_before=start)

    def tamper(bundle):
        bundle["credentials"][0] = resigned(bundle["credentials"][0], member_key, certificate)
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "certificate", 1)["reason"] == reason
    assert browser_failures(steps) == server_failures(tampered)


def test_a_record_for_another_batch_is_the_wrong_batch(visit, live, batch):
    other = make_batch(live, "OTHER-1", events=())
    other_harvest = fetch_bundle(live, other)["credentials"][0]

    def tamper(bundle):
        bundle["credentials"][0] = other_harvest
        bundle["log"]["proofs"].update(fetch_bundle(live, other)["log"]["proofs"])
        tampered.update(bundle)

    tampered: dict = {}
    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "subject", 1)["reason"] == "wrong_batch"
    assert browser_failures(steps) == server_failures(tampered)


def test_a_file_that_is_not_a_bundle_fails_instead_of_crashing(visit, batch):
    def tamper(bundle):
        bundle["credentials"] = "không có"

    state, steps, _page = visit(batch, tamper)

    assert state == "failed"
    assert step(steps, "records")["reason"] == "no_credentials"


@pytest.mark.parametrize("answer", ["abort", "500", "not json"])
def test_no_proof_file_is_an_error_not_a_verdict(visit, batch, answer):
    def serve(route):
        if answer == "abort":
            route.abort("failed")
        elif answer == "500":
            route.fulfill(status=500, body="lỗi máy chủ")
        else:
            route.fulfill(status=200, content_type="application/json", body="<html>")

    state, steps, page = visit(batch, serve=serve)

    assert state == "error"
    assert steps == []
    assert page.text_content("#self-verify-result").startswith("Không tải được tệp bằng chứng")


# -- records newer than the latest checkpoint ----------------------------------------------------
@pytest.fixture(scope="module")
def pending_batch(live) -> Batch:
    """A batch whose last two records are logged but not yet covered by a checkpoint; its first
    records were checkpointed more than PENDING_GRACE before the latest checkpoint (which a
    harvest of another batch brought)."""
    import time

    from shop.cooperatives.models import Cooperative
    from traceability import events as events_module
    from traceability.verification import PENDING_GRACE

    made = make_batch(live, "ST25-CHO")
    time.sleep(PENDING_GRACE.total_seconds() + 1.5)
    make_batch(live, "ST25-CHO2", events=())
    with live.app.app_context(), unit_of_work() as session:
        cooperative = session.get(Cooperative, made.cooperative_id)
        credentials = CredentialService(session, key_service(session))
        issuer = IssuerRef("cooperative", cooperative.id, cooperative.name)
        link = f"{live.app.config['PUBLIC_BASE_URL']}/01/{made.gtin}/10/{made.lot}"
        for _ in range(2):
            event = events_module.build_event(events_module.EventKind.INSPECTION, event_time=datetime.now(events_module.LOCAL_TZ),
                                              location={"type": ["Location"], "id": "https://nongsan.test/htx", "name": cooperative.name},
                                              quantities=[events_module.quantity(link, "Gạo ST25", 800)])
            credentials.issue(issuer, BatchRef(made.gtin, made.lot), "inspection", event, publish=False)
    return made


def test_records_newer_than_the_checkpoint_pass_as_pending_in_the_browser_as_on_the_server(visit, live, pending_batch):
    bundle = fetch_bundle(live, pending_batch)
    result = verify_evidence(Evidence.from_bundle(bundle))
    assert result.ok and len(result.credentials) >= 4 and result.pending == [len(result.credentials) - 1, len(result.credentials)]
    state, steps, page = visit(pending_batch)
    assert state == "ok", steps
    shown = {int(s["seq"]) for s in steps if s["step"] == "log_inclusion" and s.get("pending") == "true"}
    assert shown == set(result.pending)
    assert page.get_attribute("#self-verify-result", "data-pending") == "2"
    assert page.get_attribute("#log-pending", "data-pending") == "2"  # the server's page says so too


def test_an_old_record_passed_off_as_pending_fails_in_the_browser_as_on_the_server(visit, live, pending_batch):
    def claim_pending(bundle):
        first = sha(bundle["credentials"][0])
        bundle["log"]["proofs"][first] = {"index": 10**6, "tree_size": bundle["log"]["proofs"][first]["tree_size"], "pending": True}

    bundle = fetch_bundle(live, pending_batch)
    claim_pending(bundle)
    expected = server_failures(bundle)
    assert (1, "log_inclusion", "not_in_log") in expected
    state, steps, _page = visit(pending_batch, tamper=claim_pending)
    assert state == "failed" and browser_failures(steps) == expected
