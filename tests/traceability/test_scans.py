from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from shop.accounts.models import Role
from tests.factories import login
from traceability.models import ProblemReport, ScanAlert, ScanDay, UnitScan
from traceability.scans import ScanService


@pytest.fixture
def serialised(app, factory, session):
    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="SER-1")
    with app.app_context():
        unit_range = ScanService(session, b"k").issue_range(product.gtin, batch.lot, 100)
    session.commit()
    return cooperative, product, batch, unit_range


def test_batch_scans_are_counted_per_day_and_shown_to_the_cooperative(client, factory, session, serialised):
    cooperative, product, batch, _ = serialised
    for _ in range(3):
        assert client.get(f"/01/{product.gtin}/10/{batch.lot}").status_code == 200
    client.head(f"/01/{product.gtin}/10/{batch.lot}")  # not a scan
    assert session.exec(select(ScanDay.count).where(ScanDay.gtin == product.gtin)).one() == 3
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="scanclerk")
    session.commit()
    login(client, "scanclerk")
    page = client.get(f"/htx/batches/{batch.id}").get_data(as_text=True)
    assert '<span id="scan-total">3</span>' in page and "<svg" in page


def test_unknown_serial_warns_the_consumer_and_alerts_the_cooperative(client, session, serialised):
    _, product, batch, _ = serialised
    page = client.get(f"/01/{product.gtin}/10/{batch.lot}/21/999999").get_data(as_text=True)
    assert 'id="counterfeit-warning"' in page and 'data-rule="unknown_serial"' in page
    assert session.exec(select(ScanAlert.rule).where(ScanAlert.serial == "999999")).all() == ["unknown_serial"]


def test_a_single_unit_scanned_from_many_places_is_flagged_without_storing_addresses(client, session, serialised):
    _, product, batch, _ = serialised
    path = f"/01/{product.gtin}/10/{batch.lot}/21/000007"
    for network in range(1, 6):
        page = client.get(path, environ_overrides={"REMOTE_ADDR": f"10.{network}.0.9"}).get_data(as_text=True)
        assert 'id="counterfeit-warning"' not in page
    page = client.get(path, environ_overrides={"REMOTE_ADDR": "10.99.3.4"}).get_data(as_text=True)
    assert 'data-rule="many_places"' in page
    unit = session.exec(select(UnitScan).where(UnitScan.serial == "000007")).one()
    assert unit.count == 6 and unit.flagged == "many_places"
    assert "10." not in unit.places and len(unit.places.split(",")) == 6
    assert session.exec(select(ScanAlert.rule).where(ScanAlert.serial == "000007")).all() == ["many_places"]
    # same /16 network again: not a new place
    client.get(path, environ_overrides={"REMOTE_ADDR": "10.99.200.1"})
    session.refresh(unit)
    assert len(unit.places.split(",")) == 6


def test_rescan_long_after_the_first_scan_is_flagged(app, session, serialised):
    _, product, batch, _ = serialised
    with app.app_context():
        scans = ScanService(session, b"k")
        first = datetime.now(timezone.utc) - timedelta(days=200)
        assert scans.record(product.gtin, batch.lot, "000001", "1.2.3.4", now=first) is None
        assert scans.record(product.gtin, batch.lot, "000001", "1.2.3.4") == "late_rescan"


def test_trace_page_is_cacheable_but_never_hides_a_recall_for_long(app, client, factory, session, serialised):
    cooperative, product, batch, _ = serialised
    response = client.get(f"/01/{product.gtin}/10/{batch.lot}")
    assert response.cache_control.public and response.cache_control.max_age <= 60
    again = client.get(f"/01/{product.gtin}/10/{batch.lot}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    with app.app_context():
        factory.catalog(cooperative).recall_batch(batch.id, "Nấm mốc trong bao", actor="member:1")
    session.commit()
    assert client.get(f"/01/{product.gtin}/10/{batch.lot}").status_code == 410


def test_html_of_the_scan_page_stays_small(client, serialised):
    _, product, batch, _ = serialised
    html = client.get(f"/01/{product.gtin}/10/{batch.lot}").data
    css = client.get("/static/css/site.css").data
    js = client.get("/static/js/verify.js").data
    assert len(html) + len(css) + len(js) < 50 * 1024, (len(html), len(css), len(js))


def test_consumer_reports_a_problem_without_an_account_and_is_rate_limited(app, client, session, serialised):
    _, product, batch, _ = serialised
    path = f"/report/01/{product.gtin}/10/{batch.lot}"
    bad = client.post(path, data={"category": "quality", "message": "short"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "message"
    done = client.post(path, data={"category": "quality", "message": "Gạo có mọt, mùi ẩm mốc", "contact": "0912345678"})
    assert done.status_code == 303
    assert session.exec(select(ProblemReport.message).where(ProblemReport.gtin == product.gtin)).all() == ["Gạo có mọt, mùi ẩm mốc"]
    statuses = [client.post(path, data={"category": "other", "message": "lặp lại nhiều lần"}).status_code for _ in range(6)]
    assert 429 in statuses
    assert client.post(f"/report/01/{product.gtin}/10/NOPE", data={"category": "other", "message": "x" * 20}).status_code in (404, 429)


def test_scan_rush_is_served_from_the_micro_cache_and_still_counted(app, client, session, serialised):
    """With buffered counters (the default) repeated anonymous scans skip the application."""
    _, product, batch, _ = serialised
    app.config["SCAN_COUNTER"] = "buffer"
    app.config["SCAN_BUFFER_SECONDS"] = 3600
    path = f"/01/{product.gtin}/10/{batch.lot}"
    first = client.get(path)
    assert first.status_code == 200
    for _ in range(5):
        again = client.get(path)
        assert again.status_code == 200 and again.data == first.data
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    with app.app_context():
        counter = app.extensions["nongsan.scan_buffer"]
        assert sum(counter.pending.values()) == 7
        counter.flush_to(session)
    assert session.exec(select(ScanDay.count).where(ScanDay.gtin == product.gtin)).one() == 7
    assert app.extensions["nongsan.trace_fast"], "the rendered page was handed to the WSGI micro-cache"
