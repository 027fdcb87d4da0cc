"""The live-carrier adapter against a real local HTTP server: a good reply becomes the quote; a
slow reply, an error status or garbage makes the tariff price the parcel, and the quote says so."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shop import create_app
from kernel.config import ConfigError
from tests.conftest import base_config
from workers.postal.carriers import HttpCarrierAdapter, configured_carrier
from workers.postal.quotes import MemoryQuoteCache
from workers.postal.schemas import Parcel
from workers.postal.services import QuoteService
from workers.postal.tariff import TariffAdapter, default_tariff

PARCEL = Parcel(92, 79, 26882, 1200, 300_000)
GOOD = {"total_vnd": 45_360, "base_vnd": 28_000, "extra_weight_vnd": 10_000, "cod_fee_vnd": 3_000,
        "remote_surcharge_vnd": 0, "vat_vnd": 4_360, "zone": "intra_region"}


class FakeCarrier(BaseHTTPRequestHandler):
    """Answers as `server.behaviour` says and keeps what it was sent."""

    def do_POST(self):  # noqa: N802 - http.server's hook name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((dict(self.headers), json.loads(body)))
        status, reply = 200, json.dumps(GOOD).encode()
        behaviour = self.server.behaviour
        if behaviour == "slow":
            time.sleep(1.5)
        elif behaviour == "error":
            status, reply = 500, b'{"error": "database down"}'
        elif behaviour == "garbage":
            reply = b"<html>Bad gateway</html>"
        elif behaviour == "fractional":
            reply = json.dumps({**GOOD, "total_vnd": 45_360.5}).encode()
        elif behaviour == "wrong_sum":
            reply = json.dumps({**GOOD, "vat_vnd": 1}).encode()
        elif behaviour == "total_only":
            reply = b'{"total_vnd": 50000}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def carrier_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCarrier)
    server.behaviour, server.received = "good", []
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/quote"
    yield server
    server.shutdown()
    server.server_close()


def _adapter(server, timeout=0.5):
    return HttpCarrierAdapter(server.url, "carrier-secret", timeout, TariffAdapter(default_tariff()), httpx.Client())


def test_a_good_reply_becomes_the_quote(carrier_server):
    quote = _adapter(carrier_server).quote(PARCEL)
    assert (quote.source, quote.carrier) == ("carrier", "http")
    assert (quote.total_vnd, quote.first_step_vnd, quote.extra_weight_vnd, quote.cod_fee_vnd, quote.vat_vnd) == (
        45_360, 28_000, 10_000, 3_000, 4_360)
    assert quote.base_fee_vnd == 38_000 and quote.zone == "intra_region"
    headers, sent = carrier_server.received[0]
    assert headers["Authorization"] == "Bearer carrier-secret"
    assert sent == {"from_province_code": 92, "to_province_code": 79, "to_ward_code": 26882, "weight_g": 1200,
                    "length_cm": 0, "width_cm": 0, "height_cm": 0, "cod_amount_vnd": 300_000}


def test_a_reply_with_only_the_total_is_all_base_charge(carrier_server):
    carrier_server.behaviour = "total_only"
    quote = _adapter(carrier_server).quote(PARCEL)
    assert quote.source == "carrier" and quote.total_vnd == quote.first_step_vnd == 50_000
    assert quote.zone == "intra_region"  # from the tariff's regions when the carrier does not say


@pytest.mark.parametrize("behaviour", ["slow", "error", "garbage", "fractional", "wrong_sum"])
def test_a_failing_carrier_falls_back_to_the_tariff_and_says_so(carrier_server, behaviour):
    carrier_server.behaviour = behaviour
    quote = _adapter(carrier_server, timeout=0.3).quote(PARCEL)
    table = TariffAdapter(default_tariff()).quote(PARCEL)
    assert (quote.source, quote.carrier) == ("tariff_fallback", "http")
    assert quote.total_vnd == table.total_vnd and quote.tariff_version == 1
    assert len(carrier_server.received) == 1  # it was asked


def test_a_carrier_that_is_not_listening_falls_back_too():
    from tests.live import free_port

    adapter = HttpCarrierAdapter(f"http://127.0.0.1:{free_port()}/quote", None, 0.3, TariffAdapter(default_tariff()))
    assert adapter.quote(PARCEL).source == "tariff_fallback"


def test_configuration_picks_the_http_adapter_and_quotes_are_cached_under_its_name(app, session, carrier_server):
    app.config.update(CARRIER_ADAPTER="http", CARRIER_URL=carrier_server.url, CARRIER_TOKEN="t0k", CARRIER_TIMEOUT=0.5)
    cache = app.extensions["nongsan.quote_cache"] = MemoryQuoteCache()
    with app.app_context():
        first = QuoteService(session).quote(PARCEL)
        again = QuoteService(session).quote(PARCEL)
    assert first.source == "carrier" and again.cached and again.total_vnd == 45_360
    assert len(carrier_server.received) == 1
    (key,) = list(cache._entries)
    assert ":http-" in key and key.endswith(":92-79:3:300")
    app.config["CARRIER_URL"] = carrier_server.url + "?v=2"  # another endpoint: its own entries
    with app.app_context():
        assert not QuoteService(session).quote(PARCEL).cached
    assert len(carrier_server.received) == 2
    # The band's own parcel was asked for: 3 × 500 g, COD 300.000 ₫.
    assert carrier_server.received[0][1]["weight_g"] == 1500


def test_fallback_prices_are_cached_only_briefly(app, session, carrier_server, monkeypatch):
    from workers.postal import quotes

    app.config.update(CARRIER_ADAPTER="http", CARRIER_URL=carrier_server.url, CARRIER_TIMEOUT=0.5)
    carrier_server.behaviour = "error"
    stored = []
    cache = app.extensions["nongsan.quote_cache"] = MemoryQuoteCache()
    original = cache.put
    monkeypatch.setattr(cache, "put", lambda key, value, ttl: (stored.append(ttl), original(key, value, ttl)))
    with app.app_context():
        assert QuoteService(session).quote(PARCEL).source == "tariff_fallback"
    assert stored == [quotes.FALLBACK_TTL_SECONDS]


@pytest.mark.parametrize("settings", [
    {"CARRIER_ADAPTER": "ghn"},
    {"CARRIER_ADAPTER": "http"},
    {"CARRIER_ADAPTER": "http", "CARRIER_URL": "ftp://carrier.example/quote"},
])
def test_a_wrong_carrier_setting_stops_the_start(tmp_path, database_url, broker_url, settings):
    with pytest.raises(ConfigError):
        create_app({**base_config(tmp_path / "instance", database_url, broker_url), **settings})


def test_the_tariff_is_the_default_adapter(app):
    with app.app_context():
        assert configured_carrier(default_tariff()).name == "tariff"
