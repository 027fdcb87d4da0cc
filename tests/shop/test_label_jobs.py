import pytest
from sqlmodel import select

from shop.accounts.models import Role
from tests.factories import csrf_token, login
from traceability.models import LabelJob, UnitRange
from kernel.outbox import OutboxMessage


@pytest.fixture
def clerk(client, factory, session):
    cooperative = factory.cooperative()
    product = factory.product(cooperative)
    batch = factory.batch(cooperative, product, lot="LB-1")
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="labelclerk")
    session.commit()
    login(client, "labelclerk")
    return cooperative, product, batch


def _start(client, batch_id, **data):
    page = client.get(f"/htx/batches/{batch_id}/labels").get_data(as_text=True)
    return client.post(f"/htx/batches/{batch_id}/labels", data={"csrf_token": csrf_token(page), **data})


def test_serialised_job_reserves_serials_and_queues_the_worker(client, session, clerk):
    _, product, batch = clerk
    response = _start(client, batch.id, preset="a4-3x8", count="48", serialised="1", ec="M")
    assert response.status_code == 303
    job = session.exec(select(LabelJob)).one()
    assert job.serialised and job.count == 48 and job.status == "queued"
    first = _start(client, batch.id, preset="a4-3x8", count="10", serialised="1", ec="Q")
    assert first.status_code == 303
    ranges = session.exec(select(UnitRange).where(UnitRange.gtin == product.gtin).order_by(UnitRange.start)).all()
    assert [(r.start, r.count) for r in ranges] == [(1, 48), (49, 10)]  # never the same serial twice
    assert session.exec(select(OutboxMessage).where(OutboxMessage.task_name == "nongsan.catalog.render_labels")).all()
    status = client.get(response.headers["Location"] + "?format=json").get_json()
    assert status["status"] == "queued" and status["download"] is None


@pytest.mark.parametrize(("field", "data"), [
    ("count", {"preset": "a4-3x8", "count": "10001", "serialised": "1"}),
    ("count", {"preset": "a4-3x8", "count": "0"}),
    ("preset", {"preset": "a5-weird", "count": "5"}),
    ("error_correction", {"preset": "a4-3x8", "count": "5", "ec": "Z"}),
])
def test_bad_label_requests_name_the_field(client, session, clerk, field, data):
    _, _, batch = clerk
    response = _start(client, batch.id, **data)
    assert response.status_code == 400 and f'data-field="{field}"' in response.get_data(as_text=True)
    assert session.exec(select(LabelJob)).all() == []


def test_another_cooperative_cannot_see_or_download_a_label_job(app, client, factory, session, clerk):
    _, _, batch = clerk
    response = _start(client, batch.id, preset="a4-3x8", count="5")
    job_url = response.headers["Location"]
    other = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=other.id, username="otherclerk")
    session.commit()
    stranger = app.test_client()
    login(stranger, "otherclerk")
    assert stranger.get(job_url).status_code == 404
    assert stranger.get(job_url + ".pdf").status_code == 404
    assert stranger.get(f"/htx/batches/{batch.id}/labels").status_code == 404
