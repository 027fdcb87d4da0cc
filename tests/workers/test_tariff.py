"""The tariff as versioned data: seeding, the schema, publishing, and the alliance's pages."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel import select

from shop.accounts.models import Role
from kernel.audit.models import AuditEntry
from kernel.errors import Conflict, ServiceError
from tests.factories import csrf_token, login
from workers.postal.models import TariffVersion
from workers.postal.schemas import Parcel, TariffRates
from workers.postal.tariff import (
    DEFAULT_TARIFF,
    TariffAdapter,
    TariffBook,
    default_tariff,
    form_values,
    parse_percent,
    parse_vnd,
    rates_from_form,
)

CAN_THO_WARD = 31684
PHU_QUOC = 31078  # island special zone: remote in version 1


def _rates(**changes) -> TariffRates:
    data = default_tariff().rates.model_dump(mode="json")
    data.update(changes)
    return TariffRates.model_validate(data)


def _form(**changes) -> dict[str, str]:
    values = form_values(default_tariff().rates)
    values.update(note="Giá cước mới từ tháng 12", based_on="1")
    values.update(changes)
    return values


@pytest.fixture
def admin(client, factory, session):
    factory.user(Role.ALLIANCE_ADMIN, username="tariffadmin")
    session.commit()
    login(client, "tariffadmin")
    return client


def test_migration_seeds_version_one_with_the_default_tariff(app, session):
    rows = session.exec(select(TariffVersion)).all()
    assert [row.version for row in rows] == [1]
    assert TariffRates.model_validate(rows[0].rates) == TariffRates.model_validate(DEFAULT_TARIFF)
    with app.app_context():
        active = TariffBook(session).active()
    assert active.version == 1 and active.id == rows[0].id


def test_an_empty_table_is_seeded_on_first_use(app, session):
    for row in session.exec(select(TariffVersion)):
        session.delete(row)
    session.flush()
    with app.app_context():
        active = TariffBook(session).active()
    assert active.version == 1 and active.rates == default_tariff().rates
    assert len(session.exec(select(TariffVersion)).all()) == 1


@pytest.mark.parametrize("changes", [
    {"cod_minimum_vnd": -1},
    {"cod_minimum_vnd": 10_000.5},
    {"vat_percent": "101"},
    {"cod_percent": "1.005"},
    {"zones": {"intra_province": {"first_500g": 18_000, "each_500g": 3_000}}},
    {"zones": {zone: {"first_500g": 0, "each_500g": 1} for zone in ("intra_province", "intra_region", "inter_region")}},
    {"regions": {"north": [1, 92], "south": [92]}},
    {"surprise": 1},
])
def test_the_rates_schema_refuses_bad_data(changes):
    with pytest.raises(ValidationError):
        _rates(**changes)


def test_remote_communes_pay_the_surcharge_and_vat_is_on_top():
    table = TariffAdapter()
    near = table.quote(Parcel(92, 91, 30292, 400))
    far = table.quote(Parcel(92, 91, PHU_QUOC, 400))
    assert (near.remote, near.surcharge_vnd) == (False, 0)
    assert (far.remote, far.surcharge_vnd) == (True, 10_000)
    assert far.vat_vnd == 3_040  # 8 % of 28.000 + 10.000, rounded up to the dong
    assert far.total_vnd == far.first_step_vnd + far.extra_weight_vnd + far.cod_fee_vnd + far.surcharge_vnd + far.vat_vnd


def test_fractional_percentages_round_up_to_whole_dong():
    table = TariffAdapter(default_tariff().__class__.of(None, 7, _rates(cod_percent="1.25", vat_percent="10")))
    quote = table.quote(Parcel(92, 92, CAN_THO_WARD, 900, cod_amount_vnd=1_234_567))
    assert quote.cod_fee_vnd == 15_433  # 1,25 % of 1.234.567 = 15.432,09 → 15.433
    assert quote.base_fee_vnd == 18_000 + 3_000
    assert quote.vat_vnd == 3_644  # 10 % of 36.433 = 3.643,3 → 3.644
    assert all(isinstance(value, int) for value in (quote.cod_fee_vnd, quote.vat_vnd, quote.total_vnd))


def test_publishing_adds_a_version_and_never_changes_the_old_one(app, session):
    with app.app_context():
        book = TariffBook(session)
        before = session.exec(select(TariffVersion).where(TariffVersion.version == 1)).one().rates
        row = book.publish(_rates(vat_percent="10"), "VAT back to 10 %", based_on=1)
        assert row.version == 2
        assert book.active().version == 2 and book.active().rates.vat_percent == Decimal("10")
        assert session.exec(select(TariffVersion).where(TariffVersion.version == 1)).one().rates == before
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "tariff.publish")).one()
    assert entry.object_id == "2"
    assert entry.before["version"] == 1 and entry.before["rates"]["vat_percent"] == "8"
    assert entry.after["version"] == 2 and entry.after["rates"]["vat_percent"] == "10"


def test_an_edit_started_from_an_older_version_is_refused(app, session):
    with app.app_context():
        book = TariffBook(session)
        book.publish(_rates(vat_percent="10"), "first editor", based_on=1)
        with pytest.raises(Conflict) as refused:
            book.publish(_rates(cod_minimum_vnd=12_000), "second editor, stale page", based_on=1)
    assert refused.value.field == "based_on"
    assert len(session.exec(select(TariffVersion)).all()) == 2


def test_publishing_the_same_prices_again_is_refused(app, session):
    with app.app_context(), pytest.raises(ServiceError):
        TariffBook(session).publish(_rates(), "no change", based_on=1)


def test_form_reading_names_each_bad_field():
    regions = default_tariff().rates.regions
    rates, errors = rates_from_form(_form(intra_region__first_500g="0", inter_region__each_500g="7.5",
                                          cod_percent="120", vat_percent="abc", cod_minimum_vnd="-5",
                                          remote_wards="31078 xyz", volumetric_divisor="10"), regions)
    assert rates is None
    assert set(errors) == {"intra_region__first_500g", "inter_region__each_500g", "cod_percent", "vat_percent",
                           "cod_minimum_vnd", "remote_wards", "volumetric_divisor"}
    rates, errors = rates_from_form(_form(remote_wards="31078 999999"), regions)
    assert rates is None and "999999" in errors["remote_wards"]
    rates, errors = rates_from_form(_form(intra_province__first_500g="20.000", cod_percent="1,5"), regions)
    assert errors == {}
    assert rates.zones["intra_province"].first_500g == 20_000 and rates.cod_percent == Decimal("1.5")


def test_only_alliance_admins_see_the_tariff(client, factory, session):
    cooperative = factory.cooperative()
    factory.user(Role.MEMBER, cooperative_id=cooperative.id, username="tariffmember")
    session.commit()
    assert client.get("/alliance/tariff/").status_code == 302  # to the login page
    login(client, "tariffmember")
    assert client.get("/alliance/tariff/").status_code == 403
    assert client.get("/alliance/tariff/edit").status_code == 403
    assert client.post("/alliance/tariff/edit", data=_form()).status_code in (400, 403)
    assert len(session.exec(select(TariffVersion)).all()) == 1


def test_admin_publishes_through_the_form_and_the_history_keeps_both(admin, session):
    page = admin.get("/alliance/tariff/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="intra_region__first_500g"' in html and 'value="28000"' in html
    response = admin.post("/alliance/tariff/edit", data=_form(intra_region__first_500g="30000",
                                                              csrf_token=csrf_token(html)))
    assert response.status_code == 303
    versions = session.exec(select(TariffVersion).order_by(TariffVersion.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].rates["zones"]["intra_region"]["first_500g"] == 30_000
    assert versions[1].created_by == "tariffadmin"
    shown = admin.get("/alliance/tariff/").get_data(as_text=True)
    assert "30.000 ₫" in shown and "Giá cước mới từ tháng 12" in shown
    old = admin.get("/alliance/tariff/versions/1").get_data(as_text=True)
    assert "28.000 ₫" in old
    assert admin.get("/alliance/tariff/versions/99").status_code == 404


@pytest.mark.parametrize("language, expected", [
    ("vi", "Nhập số đồng nguyên"),
    ("en", "Enter a whole number of dong"),
])
def test_bad_form_is_refused_with_field_messages_in_both_languages(admin, session, language, expected):
    if language == "en":
        admin.get("/lang/en")
    html = admin.get("/alliance/tariff/edit").get_data(as_text=True)
    response = admin.post("/alliance/tariff/edit", data=_form(inter_region__first_500g="35k", vat_percent="250",
                                                              csrf_token=csrf_token(html)))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'data-field="inter_region__first_500g"' in body and 'data-field="vat_percent"' in body
    assert expected in body
    assert len(session.exec(select(TariffVersion)).all()) == 1


def test_a_form_without_its_csrf_token_publishes_nothing(admin, session):
    response = admin.post("/alliance/tariff/edit", data=_form(intra_region__first_500g="30000"))
    assert response.status_code == 400
    assert len(session.exec(select(TariffVersion)).all()) == 1


def test_calculator_itemises_a_quote_under_any_version(admin, session, app):
    with app.app_context():
        TariffBook(session).publish(_rates(remote_surcharge_vnd=15_000), "island surcharge up", based_on=1)
    session.commit()
    query = {"from_province": "92", "to_province": "91", "to_ward": str(PHU_QUOC), "weight_g": "1200",
             "length_cm": "", "width_cm": "", "height_cm": "", "cod_amount_vnd": "500000"}
    now = admin.get("/alliance/tariff/calculator", query_string=query).get_data(as_text=True)
    assert '<td data-item="remote">15.000 ₫</td>' in now
    assert '<td data-item="extra">10.000 ₫</td>' in now  # 1.200 g: two further 500 g steps at 5.000 ₫
    before = admin.get("/alliance/tariff/calculator", query_string={**query, "version": "1"}).get_data(as_text=True)
    assert '<td data-item="remote">10.000 ₫</td>' in before
    # 28.000 + 10.000 + 10.000 (COD minimum) + 10.000, plus 8 % VAT = 62.640 ₫
    assert '<td data-item="total"><strong>62.640 ₫</strong></td>' in before


def test_calculator_names_the_fields_it_cannot_use(admin):
    response = admin.get("/alliance/tariff/calculator", query_string={
        "from_province": "93", "to_province": "91", "to_ward": "26882", "weight_g": "0", "cod_amount_vnd": "-1"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for field in ("from_province", "to_ward", "weight_g", "cod_amount_vnd"):
        assert f'data-field="{field}"' in body


def test_calculator_asks_for_what_is_missing(admin):
    response = admin.get("/alliance/tariff/calculator", query_string={"from_province": "", "to_province": "79",
                                                                       "weight_g": "", "version": "9"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for field in ("from_province", "weight_g", "version"):
        assert f'data-field="{field}"' in body


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=100_000_000), st.sampled_from([".", " ", ",", "\u00a0"]))
def test_amounts_read_back_with_or_without_thousands_separators(amount, separator):
    grouped = f"{amount:,}".replace(",", separator)
    assert parse_vnd(str(amount)) == amount
    assert parse_vnd(grouped) == amount
    assert parse_vnd(f"{grouped} ₫") == amount


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_typed_text_is_an_amount_a_percentage_or_refused(text):
    amount, percent = parse_vnd(text), parse_percent(text)
    assert amount is None or (isinstance(amount, int) and amount >= 0)
    assert percent is None or Decimal(0) <= percent <= Decimal(100)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False))
def test_percentages_with_a_comma_or_a_point(value):
    text = format(value, "f")
    assert parse_percent(text) == value
    assert parse_percent(text.replace(".", ",") + " %") == value


def test_previewing_a_draft_shows_typical_parcels_and_saves_nothing(admin, session):
    html = admin.get("/alliance/tariff/edit").get_data(as_text=True)
    response = admin.post("/alliance/tariff/edit", data=_form(intra_province__first_500g="20000", note="",
                                                              action="preview", csrf_token=csrf_token(html)))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="tariff-preview"' in body
    # Same province, 500 g: 18.000 ₫ + 8 % now, 20.000 ₫ + 8 % in the draft.
    assert "<td>19.440 ₫</td><td>21.600 ₫</td><td data-change=\"2160\">+2.160 ₫</td>" in body
    assert 'value="20000"' in body  # the draft stays in the form
    assert len(session.exec(select(TariffVersion)).all()) == 1
    assert session.exec(select(AuditEntry).where(AuditEntry.action == "tariff.publish")).first() is None
