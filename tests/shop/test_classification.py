"""The classification recomputed from known orders, events, reports and shipments, next to the
arithmetic done by hand; the ranking, its filters and downloads; survey findings and who may see what."""

from __future__ import annotations

import io
import itertools
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from shop.catalog.models import Certification
from shop.catalog.schemas import TraceEventCreate
from kernel.i18n import LOCAL_TZ
from shop.insight.models import SurveyFinding
from shop.insight.schemas import Period
from shop.insight.services import SCORING, ClassificationService
from shop.orders.models import Order, OrderStatusChange
from kernel.timeutil import utcnow
from tests.factories import csrf_token, login
from traceability.models import Credential, ProblemReport
from workers.postal.models import Shipment

_numbers = itertools.count(1)


def add_order(session, cooperative, *, status: str, total: int, placed_days_ago: float, handed_after_hours: float | None = None,
              shipment_status: str | None = None, partner=None) -> Order:
    """An order placed `placed_days_ago`, handed to the post `handed_after_hours` after that."""
    n = next(_numbers)
    placed = utcnow() - timedelta(days=placed_days_ago)
    order = Order(reference=f"NS-T{n:07d}", public_token=f"token-{n}-{cooperative.id}", checkout_key=f"key-{n}",
                  cooperative_id=cooperative.id, status=status, buyer_name="Chị Lan", buyer_phone="0912345678",
                  province_code=92, ward_code=31684, street="Ấp 1", goods_total_vnd=total, shipping_fee_vnd=30_000,
                  weight_g=5000, created_at=placed)
    session.add(order)
    session.flush()
    session.add(OrderStatusChange(order_id=order.id, to_status="placed", actor="buyer", at=placed))
    if handed_after_hours is not None:
        session.add(OrderStatusChange(order_id=order.id, from_status="placed", to_status="handed_to_post", actor="member:1",
                                      at=placed + timedelta(hours=handed_after_hours)))
    if shipment_status is not None:
        session.add(Shipment(code=f"EN{n:08d}5VN", order_id=order.id, order_reference=order.reference,
                             cooperative_id=cooperative.id, partner_id=partner.id, status=shipment_status,
                             sender_name=cooperative.name, sender_province_code=92, sender_ward_code=31684,
                             sender_address="Ấp 1", recipient_name="Chị Lan", recipient_phone="0912345678",
                             recipient_province_code=92, recipient_ward_code=31684, recipient_address="Ấp 1",
                             weight_g=5000, shipping_fee_vnd=30_000, cod_amount_vnd=total, created_at=placed))
    session.flush()
    return order


def packing(factory, cooperative, batch, kind: str = "packing") -> None:
    with factory.app.app_context():
        factory.catalog(cooperative).record_event(batch.id, TraceEventCreate(kind=kind, event_date=date.today()))
    factory.session.flush()


@pytest.fixture
def world(factory, session):
    """Cooperative A (scored by hand below), B (the province's best seller), C (another province)."""
    partner = factory.partner()
    a = factory.cooperative(name="HTX Lúa gạo Mỹ Xuyên")
    b = factory.cooperative(name="HTX Bưởi Năm Roi Kế Sách")
    c = factory.cooperative(name="HTX Rau sạch Củ Chi", province_code=79, ward_code=26882)
    pending = factory.cooperative(name="HTX Chưa duyệt", approved=False)

    # A's orders in the period.
    add_order(session, a, status="delivered", total=3_000_000, placed_days_ago=30, handed_after_hours=24,
              shipment_status="delivered", partner=partner)  # on time
    add_order(session, a, status="delivered", total=2_000_000, placed_days_ago=29, handed_after_hours=72,
              shipment_status="delivered", partner=partner)  # late: three days
    add_order(session, a, status="settled", total=1_000_000, placed_days_ago=28, handed_after_hours=47,
              shipment_status="delivered", partner=partner)  # on time, just
    add_order(session, a, status="returned", total=500_000, placed_days_ago=27, handed_after_hours=24,
              shipment_status="returned", partner=partner)  # counted, not on time, no revenue
    add_order(session, a, status="cancelled", total=800_000, placed_days_ago=26,
              shipment_status="cancelled", partner=partner)  # not counted anywhere
    add_order(session, a, status="placed", total=400_000, placed_days_ago=10)  # waited 10 days: late
    add_order(session, a, status="placed", total=300_000, placed_days_ago=0.04)  # an hour old: not judged yet
    add_order(session, a, status="in_transit", total=600_000, placed_days_ago=3, handed_after_hours=20,
              shipment_status="in_transit", partner=partner)  # still with the post: not judged
    for _ in range(17):
        add_order(session, a, status="delivered", total=100_000, placed_days_ago=20, handed_after_hours=12,
                  shipment_status="delivered", partner=partner)
    # Before the period: ignored entirely.
    add_order(session, a, status="delivered", total=9_000_000, placed_days_ago=120, handed_after_hours=100,
              shipment_status="returned", partner=partner)

    add_order(session, b, status="delivered", total=10_000_000, placed_days_ago=15, handed_after_hours=24,
              shipment_status="delivered", partner=partner)
    add_order(session, c, status="delivered", total=50_000_000, placed_days_ago=15, handed_after_hours=24,
              shipment_status="delivered", partner=partner)
    add_order(session, pending, status="delivered", total=90_000_000, placed_days_ago=15)  # not a yardstick

    # A's batches: harvest is signed on creation; packing and inspection are added.
    rice = factory.product(a)
    first = factory.batch(a, rice, lot="MX-1")
    packing(factory, a, first)
    packing(factory, a, first, "inspection")
    factory.batch(a, rice, lot="MX-2")
    third = factory.batch(a, rice, lot="MX-3")
    packing(factory, a, third)
    old = factory.batch(a, rice, lot="MX-OLD")
    packing(factory, a, old)
    old.created_at = utcnow() - timedelta(days=200)  # recorded before the period
    session.add(Certification(cooperative_id=a.id, name="VietGAP", valid_until=date.today() + timedelta(days=200)))
    session.add(Certification(cooperative_id=a.id, name="Hữu cơ", valid_until=date.today() - timedelta(days=400)))

    # Consumers' problem reports.
    session.add(ProblemReport(gtin=rice.gtin, lot="MX-1", category="quality", message="Gạo có mọt"))
    session.add(ProblemReport(gtin=rice.gtin, lot="MX-2", category="quality", message="Cũ", created_at=utcnow() - timedelta(days=120)))
    pomelo = factory.product(b, name="Bưởi Năm Roi")
    factory.batch(b, pomelo, lot="NR-1")
    session.add(ProblemReport(gtin=pomelo.gtin, lot="NR-1", category="quality", message="Bưởi khô"))
    session.flush()
    return {"a": a, "b": b, "c": c, "pending": pending, "rice": rice}


def _period() -> Period:
    today = datetime.now(LOCAL_TZ).date()
    return Period(today - timedelta(days=90), today)


def test_scores_recomputed_from_fixtures_match_a_hand_calculation(app, session, world):
    a = world["a"]
    # The data behind the traceability component, as signed: harvest on every batch, packing on
    # MX-1 and MX-3, inspection on MX-1.
    events = session.exec(select(Credential.lot, Credential.event_type).where(Credential.gtin == world["rice"].gtin)).all()
    assert sorted(events) == sorted([("MX-1", "harvest"), ("MX-1", "packing"), ("MX-1", "inspection"), ("MX-2", "harvest"),
                                     ("MX-3", "harvest"), ("MX-3", "packing"), ("MX-OLD", "harvest"), ("MX-OLD", "packing")])
    with app.test_request_context():
        score = ClassificationService(session).score(a.id, _period())
    parts = {c.key: c for c in score.components}
    inputs = {key: {i.key: i.value for i in c.inputs} for key, c in parts.items()}

    # Sales: delivered or settled orders in the period 3.000.000 + 2.000.000 + 1.000.000 + 17 × 100.000
    # = 7.700.000 ₫ (20 orders); the province's best is B with 10.000.000 ₫ (C is in another province,
    # the pending cooperative is no yardstick). 100 × 7,7 ÷ 10 = 77,0.
    assert inputs["sales"] == {"delivered_orders": 20, "revenue_vnd": 7_700_000, "best_in_province_vnd": 10_000_000}
    assert parts["sales"].score == 77.0
    # On time: counted = 3 delivered/settled + 17 delivered + 1 returned + 1 placed 10 days ago = 22
    # (not the cancelled one, the one placed an hour ago, the one in transit). On time: handed over
    # within 48 h and delivered: 24 h, 47 h and the 17 at 12 h = 19. 100 × 19 ÷ 22 = 86,36 → 86,4.
    assert inputs["on_time"] == {"orders_counted": 22, "orders_on_time": 19}
    assert parts["on_time"].score == 86.4
    # Traceability: batches in the period MX-1 (3 events), MX-2 (1), MX-3 (2) = 6 events on 3
    # batches = 2 per batch; target 4 → 50. Harvest and packing on 2 of 3 → 66,67. One valid
    # certification → 100. 0,4 × 50 + 0,4 × 66,67 + 0,2 × 100 = 66,67 → 66,7.
    assert inputs["traceability"] == {"batches": 3, "signed_events": 6, "events_per_batch": 2.0,
                                      "harvest_and_packing": 2, "valid_certifications": 1}
    assert parts["traceability"].score == 66.7
    # Complaints: 1 report in the period on A's batches per 20 delivered orders = 5 per 100;
    # 100 − 10 × 5 = 50,0.
    assert inputs["complaints"]["problem_reports"] == 1
    assert parts["complaints"].score == 50.0
    # Returns: shipments in the period, not counting the cancelled one: 3 + 17 delivered, 1 returned,
    # 1 in transit = 22; returned 1 = 4,545 %; 100 − 5 × 4,545 = 77,27 → 77,3.
    assert inputs["returns"]["shipments"] == 22 and inputs["returns"]["returned_or_failed"] == 1
    assert parts["returns"].score == 77.3
    # Total: 25 % × 77,0 + 25 % × 86,4 + 20 % × 66,7 + 15 % × 50,0 + 15 % × 77,3
    # = 19,25 + 21,6 + 13,34 + 7,5 + 11,595 = 73,285 → 73,3, class Khá (≥ 65, < 80).
    assert score.total == 73.3
    assert score.grade == "fair"
    assert SCORING.grade(80) == "good" and SCORING.grade(79.9) == "fair" and SCORING.grade(50) == "average"
    assert SCORING.grade(49.9) == "weak"


def test_ranking_lists_approved_cooperatives_best_first_and_filters_by_class(app, session, world):
    with app.test_request_context():
        service = ClassificationService(session)
        ranking = service.ranking(_period())
        names = [s.name for s in ranking]
        assert "HTX Chưa duyệt" not in names
        assert [s.rank for s in ranking] == list(range(1, len(ranking) + 1))
        assert [s.total for s in ranking] == sorted((s.total for s in ranking), reverse=True)
        fair = service.ranking(_period(), grade="fair")
        assert world["a"].id in [s.cooperative_id for s in fair]
        assert all(s.grade == "fair" for s in fair)
        by_name = service.ranking(_period(), sort="name", descending=False)
        assert [s.name for s in by_name] == sorted(names, key=str.casefold)


def _alliance(factory, session, client, username="lienminh"):
    factory.user(Role.ALLIANCE_ADMIN, username=username)
    session.commit()
    login(client, username)


def test_alliance_ranking_page_sorts_filters_and_downloads(client, factory, session, world):
    _alliance(factory, session, client)
    period = _period()
    query = f"from={period.start.isoformat()}&to={period.end.isoformat()}"
    page = client.get(f"/alliance/ranking?{query}&sort=on_time&dir=desc")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "HTX Lúa gạo Mỹ Xuyên" in html and "HTX Chưa duyệt" not in html
    assert "Khá" in html and "73,3" in html  # Vietnamese by default, decimal comma
    assert "Trọng số" in html or "trọng số" in html
    filtered = client.get(f"/alliance/ranking?{query}&class=good").get_data(as_text=True)
    assert "HTX Lúa gạo Mỹ Xuyên" not in filtered
    assert client.get(f"/alliance/ranking?{query}&class=excellent").status_code == 400
    csv_text = client.get(f"/alliance/ranking.csv?{query}").get_data().decode("utf-8-sig")
    assert "HTX Lúa gạo Mỹ Xuyên" in csv_text and "73.3" in csv_text
    workbook = load_workbook(io.BytesIO(client.get(f"/alliance/ranking.xlsx?{query}").get_data()))
    values = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    assert any(row[1] == "HTX Lúa gạo Mỹ Xuyên" and row[7] == 73.3 for row in values[1:])
    assert client.get(f"/alliance/ranking.pdf?{query}").status_code == 404
    assert client.get("/alliance/ranking?from=31/12/2026").status_code == 400


def test_survey_findings_are_recorded_beside_the_score_and_audited(client, factory, session, world):
    a = world["a"]
    _alliance(factory, session, client, "khaosat")
    page = client.get(f"/alliance/ranking/{a.id}")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    refused = client.post(f"/alliance/ranking/{a.id}/surveys", data={
        "csrf_token": token, "survey_date": (date.today() + timedelta(days=5)).isoformat(), "surveyor": "",
        "findings": "Kho chứa sạch", "assessed_class": "good"})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert 'data-field="surveyor"' in html
    assert session.exec(select(SurveyFinding)).all() == []
    future = client.post(f"/alliance/ranking/{a.id}/surveys", data={
        "csrf_token": token, "survey_date": (date.today() + timedelta(days=5)).isoformat(), "surveyor": "Anh Tâm",
        "findings": "Kho chứa sạch", "assessed_class": "good"})
    assert future.status_code == 400 and 'data-field="survey_date"' in future.get_data(as_text=True)
    done = client.post(f"/alliance/ranking/{a.id}/surveys", data={
        "csrf_token": token, "survey_date": date.today().isoformat(), "surveyor": "Anh Tâm",
        "findings": "Kho chứa sạch, sổ nhật ký đầy đủ", "assessed_class": "good"})
    assert done.status_code == 303
    finding = session.exec(select(SurveyFinding).where(SurveyFinding.cooperative_id == a.id)).one()
    assert finding.assessed_class == "good" and finding.surveyor == "Anh Tâm"
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "survey.record")).one()
    assert entry.cooperative_id == a.id and entry.actor_label == "khaosat"
    assert entry.after["findings"] == "Kho chứa sạch, sổ nhật ký đầy đủ"
    detail = client.get(f"/alliance/ranking/{a.id}").get_data(as_text=True)
    assert "Kho chứa sạch, sổ nhật ký đầy đủ" in detail and "Tốt" in detail
    ranking = client.get("/alliance/ranking").get_data(as_text=True)
    assert date.today().strftime("%d/%m/%Y") in ranking


def test_a_member_sees_only_its_own_breakdown_and_cannot_survey(client, factory, session, world):
    a, b = world["a"], world["b"]
    factory.user(Role.MEMBER, cooperative_id=a.id, username="htxa")
    session.commit()
    login(client, "htxa")
    period = _period()
    page = client.get(f"/htx/score?from={period.start.isoformat()}&to={period.end.isoformat()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "HTX Lúa gạo Mỹ Xuyên" in html and b.name not in html
    assert 'data-total="73.3"' in html and "7.700.000 ₫" in html and "86,4" in html
    english = client.get(f"/htx/score?lang=en&from={period.start.isoformat()}&to={period.end.isoformat()}")
    assert "On-time fulfilment" in english.get_data(as_text=True) and "86.4" in english.get_data(as_text=True)
    assert client.get("/alliance/ranking").status_code == 403
    assert client.get(f"/alliance/ranking/{b.id}").status_code == 403
    assert client.post(f"/alliance/ranking/{a.id}/surveys", data={}).status_code in (400, 403)
    assert client.get("/htx/score?to=2026-13-01").status_code == 400
