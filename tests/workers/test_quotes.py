"""The quote cache: hits within a band, misses across band boundaries, and a new tariff version
reflected by the very next quote. Each test runs on the in-process cache and, when
NONGSAN_TEST_REDIS_URL is set, on real Redis."""

import os
from decimal import Decimal

import pytest
import redis

from shop.accounts.models import Role
from tests.factories import csrf_token, login
from tests.live import free_port
from workers.postal import tariff as tariff_module
from workers.postal.quotes import HEAD_KEY, HEAD_TTL_SECONDS, PREFIX, MemoryQuoteCache, NoQuoteCache, RedisQuoteCache, quote_cache
from workers.postal.schemas import Parcel
from workers.postal.services import QuoteService
from workers.postal.tariff import TariffBook, form_values

HCMC, HCMC_WARD, HCMC_OTHER_WARD, CON_DAO = 79, 26882, 26740, 26732  # Côn Đảo is remote in version 1


def _quote_keys(client) -> list[str]:
    return sorted(key.decode() for key in client.scan_iter(match=f"{PREFIX}*"))


@pytest.fixture(params=["memory", "redis"])
def cache(request, app):
    if request.param == "memory":
        chosen = MemoryQuoteCache()
    else:
        url = os.environ.get("NONGSAN_TEST_REDIS_URL")
        if not url:
            pytest.skip("needs NONGSAN_TEST_REDIS_URL")
        client = redis.Redis.from_url(url)
        stale = [*client.scan_iter(match=f"{PREFIX}*"), HEAD_KEY]
        client.delete(*stale)
        chosen = RedisQuoteCache(client)
    app.extensions["nongsan.quote_cache"] = chosen  # what publishing invalidates, too
    return chosen


@pytest.fixture
def priced(monkeypatch):
    """Counts the times the tariff itself is asked (a cache hit does not ask it)."""
    calls: list[Parcel] = []
    original = tariff_module.TariffAdapter.quote

    def counting(self, parcel):
        calls.append(parcel)
        return original(self, parcel)

    monkeypatch.setattr(tariff_module.TariffAdapter, "quote", counting)
    return calls


def _quote(app, session, weight_g=1200, cod=0, ward=HCMC_WARD, **dims):
    with app.app_context():
        return QuoteService(session).quote(Parcel(92, HCMC, ward, weight_g, cod, **dims))


def test_a_parcel_in_the_same_weight_band_is_served_from_the_cache(app, session, cache, priced):
    first = _quote(app, session, weight_g=1200)
    again = _quote(app, session, weight_g=1001)  # 1.001–1.500 g: the third 500 g step, like 1.200 g
    assert (first.cached, again.cached) == (False, True)
    assert len(priced) == 1
    assert again.total_vnd == first.total_vnd == 28_000 + 2 * 5_000 + 3_040
    assert again.chargeable_weight_g == 1001  # the parcel's own weight, not the cached one's


@pytest.mark.parametrize("inside, outside", [(1000, 1001), (1500, 1501), (500, 501)])
def test_weight_band_boundaries_are_the_500_g_steps(app, session, cache, priced, inside, outside):
    low = _quote(app, session, weight_g=inside)
    high = _quote(app, session, weight_g=outside)
    assert not low.cached and not high.cached and len(priced) == 2
    assert high.base_fee_vnd - low.base_fee_vnd == 5_000
    assert _quote(app, session, weight_g=inside - 1).cached


def test_bulky_parcels_are_banded_by_their_volumetric_weight(app, session, cache, priced):
    bulky = _quote(app, session, weight_g=500, length_cm=40, width_cm=30, height_cm=30)  # 6 kg by volume
    heavy = _quote(app, session, weight_g=5_900)
    assert bulky.chargeable_weight_g == 6_000 and heavy.cached and heavy.total_vnd == bulky.total_vnd


def test_cod_band_boundaries(app, session, cache, priced):
    first = _quote(app, session, cod=2_000_000)
    assert _quote(app, session, cod=1_999_001).cached  # rounded up to the same 1.000 ₫ band
    above = _quote(app, session, cod=2_000_001)
    assert not above.cached and above.cod_fee_vnd == 20_010 and first.cod_fee_vnd == 20_000
    without = _quote(app, session, cod=0)
    assert not without.cached and without.cod_fee_vnd == 0
    assert len(priced) == 3


def test_remote_communes_have_their_own_entries(app, session, cache, priced):
    _quote(app, session, ward=HCMC_WARD)
    assert _quote(app, session, ward=HCMC_OTHER_WARD).cached  # same province, not remote: one entry
    island = _quote(app, session, ward=CON_DAO)
    assert not island.cached and island.remote and island.surcharge_vnd == 10_000


def test_redis_entries_expire(app, session, cache):
    if not isinstance(cache, RedisQuoteCache):
        pytest.skip("Redis only")
    _quote(app, session)
    (key,) = _quote_keys(cache.client)
    assert key.endswith(f":tariff:92-{HCMC}:3:0")
    assert 0 < cache.client.ttl(key) <= app.config["QUOTE_CACHE_SECONDS"]


def test_the_next_quote_after_a_new_version_uses_it(app, client, factory, session, cache, priced):
    before = _quote(app, session)
    assert _quote(app, session).cached
    factory.user(Role.ALLIANCE_ADMIN, username="quoteadmin")
    session.commit()
    login(client, "quoteadmin")
    html = client.get("/alliance/tariff/edit").get_data(as_text=True)
    with app.app_context():
        values = form_values(TariffBook(session).active().rates)
    values.update(intra_region__first_500g="30000", note="Giá mới", based_on="1", csrf_token=csrf_token(html))
    assert client.post("/alliance/tariff/edit", data=values).status_code == 303

    if isinstance(cache, RedisQuoteCache):
        assert _quote_keys(cache.client) == []  # the old version's entries were dropped on commit
    after = _quote(app, session)
    assert not after.cached and after.tariff_version == 2
    assert after.first_step_vnd == 30_000 and after.total_vnd == before.total_vnd + 2_000 + 160
    assert _quote(app, session).cached and len(priced) == 2


def test_with_redis_a_cached_quote_asks_the_database_nothing(app, session, cache, db_connection):
    if not isinstance(cache, RedisQuoteCache):
        pytest.skip("the shared pointer to the version in force lives in Redis")
    from sqlalchemy import event

    _quote(app, session)  # reads the version in force and points every process to it
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, …)
    event.listen(db_connection, "before_cursor_execute", listener)
    try:
        assert _quote(app, session, weight_g=1100).cached
    finally:
        event.remove(db_connection, "before_cursor_execute", listener)
    assert statements == []


def test_the_pointer_never_moves_back_to_an_older_version(app, session, cache):
    if not isinstance(cache, RedisQuoteCache):
        pytest.skip("Redis only")
    with app.app_context():
        book = TariffBook(session)
        old = book.active()
        book.publish(old.rates.model_copy(update={"cod_minimum_vnd": 12_000}), "COD tối thiểu", based_on=1)
        new = book.active()
    cache.point_to(new)
    cache.point_to(old)  # a process that read the database just before the publish
    assert cache.client.get(HEAD_KEY).decode() == new.head
    assert 0 < cache.client.ttl(HEAD_KEY) <= HEAD_TTL_SECONDS


def _publish_and_commit(app, session, **changes):
    from kernel.db import run_committed_callbacks

    with app.app_context():
        book = TariffBook(session)
        book.publish(book.active().rates.model_copy(update=changes), "thay đổi", based_on=book.active().version)
        session.commit()
        run_committed_callbacks(session)  # what the request or task boundary does after its commit


def test_keys_of_an_old_version_are_never_asked_for(app, session, cache, monkeypatch):
    """Even if dropping them failed, the key names the version's exact prices."""
    old = _quote(app, session)
    monkeypatch.setattr(cache, "retain_only", lambda tag: 0)  # dropping the old entries fails
    _publish_and_commit(app, session, vat_percent=Decimal("10"))
    if isinstance(cache, RedisQuoteCache):
        assert len(_quote_keys(cache.client)) == 1  # the old entry is still there…
    new = _quote(app, session)
    assert (new.tariff_version, new.cached) == (2, False)  # …and is not what the next quote gets
    assert new.vat_vnd == 3_800 and old.vat_vnd == 3_040


def test_a_pointer_left_behind_is_read_again_from_the_database_when_it_expires(app, session, cache, monkeypatch):
    """Redis unreachable at the moment of publishing: processes may go on with the previous version
    until the pointer expires (HEAD_TTL_SECONDS), never longer."""
    if not isinstance(cache, RedisQuoteCache):
        pytest.skip("the shared pointer lives in Redis")
    _quote(app, session)
    monkeypatch.setattr(cache, "switch_to", lambda tariff: None)
    _publish_and_commit(app, session, vat_percent=Decimal("10"))
    assert _quote(app, session).tariff_version == 1
    cache.client.delete(HEAD_KEY)  # what expiry does
    assert _quote(app, session).tariff_version == 2


def test_an_unreachable_redis_makes_quotes_misses_not_errors(app, session):
    app.extensions["nongsan.quote_cache"] = RedisQuoteCache(
        redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5))
    assert _quote(app, session).total_vnd == 41_040
    assert _quote(app, session).cached is False


def test_the_cache_follows_the_configuration(app):
    with app.app_context():
        app.extensions.pop("nongsan.quote_cache", None)
        app.config["REDIS_URL"] = None
        assert isinstance(quote_cache(), MemoryQuoteCache)
        app.extensions.pop("nongsan.quote_cache")
        app.config["QUOTE_CACHE_SECONDS"] = 0
        assert isinstance(quote_cache(), NoQuoteCache)


def test_a_worker_process_quotes_itemised_and_follows_a_new_version(tmp_path):
    """Real worker subprocess on the configured broker: the task's answer is itemised in whole dong,
    and a version published by the web side is used by the worker's very next quote."""
    from kernel.db import unit_of_work
    from tests.live import LiveStack

    stack = LiveStack(tmp_path)
    try:
        stack.start_worker(beat=False)
        celery = stack.app.extensions["celery"]
        args = [92, HCMC, CON_DAO, 1200, 2_000_000]
        first = celery.send_task("nongsan.postal.quote", args=args).get(timeout=60)
        assert (first["first_step_vnd"], first["extra_weight_vnd"], first["cod_fee_vnd"], first["surcharge_vnd"]) == (
            28_000, 10_000, 20_000, 10_000)
        assert first["vat_vnd"] == 5_440 and first["total_vnd"] == 73_440 and first["tariff_version"] == 1
        assert celery.send_task("nongsan.postal.quote", args=args).get(timeout=60)["cached"] is True
        with stack.app.app_context(), unit_of_work() as session:
            book = TariffBook(session)
            book.publish(book.active().rates.model_copy(update={"remote_surcharge_vnd": 25_000}), "đảo xa", based_on=1)
        after = celery.send_task("nongsan.postal.quote", args=args).get(timeout=60)
        assert after["tariff_version"] == 2 and after["surcharge_vnd"] == 25_000 and after["cached"] is False
        assert after["total_vnd"] == first["total_vnd"] + 15_000 + 1_200
    finally:
        stack.close()
