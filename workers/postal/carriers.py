"""Carrier adapters: who prices a parcel. Chosen by configuration (NONGSAN_CARRIER_ADAPTER):

- `tariff` (the default): the alliance's tariff table (workers.postal.tariff.TariffAdapter);
- `http`: a live carrier API (Vietnam Post, Viettel Post, GHN… behind a small bridge) speaking
  plain JSON. nongsan POSTs to NONGSAN_CARRIER_URL, with `Authorization: Bearer
  NONGSAN_CARRIER_TOKEN` when a token is set::

      {"from_province_code": 92, "to_province_code": 79, "to_ward_code": 26734, "weight_g": 1500,
       "length_cm": 0, "width_cm": 0, "height_cm": 0, "cod_amount_vnd": 370000}

  and expects whole dong back::

      {"total_vnd": 45360, "base_vnd": 28000, "extra_weight_vnd": 10000, "cod_fee_vnd": 3700,
       "remote_surcharge_vnd": 0, "vat_vnd": 3660, "zone": "intra_region"}

  Only `total_vnd` is required; when items are given they must add up to it. On a timeout, a
  network error, an error status or a reply that does not fit, the tariff prices the parcel
  instead and the quote says so (`source = "tariff_fallback"`): a checkout never waits on a
  carrier that is down.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Annotated, Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kernel.config import ConfigError
from workers.postal.schemas import Parcel, Quote
from workers.postal.tariff import ActiveTariff, TariffAdapter, chargeable_weight_g, zone_of

log = logging.getLogger(__name__)

ADAPTERS = ("tariff", "http")


class CarrierAdapter(Protocol):
    """Prices one parcel. `name` is part of the quote cache key."""

    name: str

    def quote(self, request: Parcel) -> Quote: ...


Dong = Annotated[int, Field(ge=0, le=100_000_000, strict=True)]


class CarrierReply(BaseModel):
    """What a live carrier answers; anything that does not fit is a malformed reply."""

    model_config = ConfigDict(extra="ignore")

    total_vnd: Dong
    base_vnd: Dong | None = None
    extra_weight_vnd: Dong = 0
    cod_fee_vnd: Dong = 0
    remote_surcharge_vnd: Dong = 0
    vat_vnd: Dong = 0
    zone: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _items_add_up(self) -> CarrierReply:
        others = self.extra_weight_vnd + self.cod_fee_vnd + self.remote_surcharge_vnd + self.vat_vnd
        if self.base_vnd is None:
            # Only a total (and maybe some items): the rest of it is the base charge.
            if others > self.total_vnd:
                raise ValueError(f"items add up to more than total_vnd {self.total_vnd}")
            self.base_vnd = self.total_vnd - others
        elif self.base_vnd + others != self.total_vnd:
            raise ValueError(f"items add up to {self.base_vnd + others}, not total_vnd {self.total_vnd}")
        return self


class CarrierUnavailable(Exception):
    """The carrier gave no usable price (timeout, network, error status, malformed reply)."""


class HttpCarrierAdapter:
    name = "http"

    def __init__(self, url: str, token: str | None, timeout: float, fallback: TariffAdapter,
                 client: httpx.Client | None = None) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.fallback = fallback
        self.client = client or httpx.Client()

    def quote(self, request: Parcel) -> Quote:
        try:
            reply = self._ask(request)
        except CarrierUnavailable as error:
            log.warning("carrier quote failed, the tariff priced it instead: %s", error)
            return replace(self.fallback.quote(request), source="tariff_fallback", carrier=self.name)
        rates = self.fallback.tariff.rates
        base = reply.base_vnd or 0
        return Quote(
            zone=reply.zone or zone_of(request.from_province_code, request.to_province_code, rates.regions),
            chargeable_weight_g=chargeable_weight_g(request, rates.volumetric_divisor),
            base_fee_vnd=base + reply.extra_weight_vnd, cod_fee_vnd=reply.cod_fee_vnd,
            surcharge_vnd=reply.remote_surcharge_vnd, vat_vnd=reply.vat_vnd, total_vnd=reply.total_vnd,
            tariff_version=None, first_step_vnd=base, extra_weight_vnd=reply.extra_weight_vnd,
            remote=reply.remote_surcharge_vnd > 0,
            source="carrier", carrier=self.name,
        )

    def _ask(self, request: Parcel) -> CarrierReply:
        payload: dict[str, Any] = {
            "from_province_code": request.from_province_code, "to_province_code": request.to_province_code,
            "to_ward_code": request.to_ward_code, "weight_g": request.weight_g, "length_cm": request.length_cm,
            "width_cm": request.width_cm, "height_cm": request.height_cm, "cod_amount_vnd": request.cod_amount_vnd,
        }
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.client.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise CarrierUnavailable(f"HTTP {response.status_code}")
        try:
            return CarrierReply.model_validate_json(response.content)
        except ValidationError as error:
            raise CarrierUnavailable(f"malformed reply: {error.errors()[0]['msg']}") from error


def check_config(config: dict[str, Any]) -> None:
    """At start-up, so a wrong setting stops the service instead of every quote."""
    adapter = config.get("CARRIER_ADAPTER") or "tariff"
    if adapter not in ADAPTERS:
        raise ConfigError(f"NONGSAN_CARRIER_ADAPTER must be one of {', '.join(ADAPTERS)}, not {adapter!r}")
    if adapter == "http":
        url = str(config.get("CARRIER_URL") or "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("NONGSAN_CARRIER_ADAPTER=http needs NONGSAN_CARRIER_URL (http:// or https://)")


def cache_name(config: dict[str, Any]) -> str:
    """The configured adapter's part of the quote cache key: pointing at another carrier endpoint
    must not serve the previous one's prices."""
    if (config.get("CARRIER_ADAPTER") or "tariff") != "http":
        return "tariff"
    return "http-" + hashlib.sha256(str(config.get("CARRIER_URL")).encode()).hexdigest()[:8]


def configured_carrier(tariff: ActiveTariff, app=None) -> CarrierAdapter:
    """The adapter the configuration names, pricing with (or falling back to) `tariff`."""
    from flask import current_app

    app = app or current_app._get_current_object()
    config = app.config
    table = TariffAdapter(tariff)
    if (config.get("CARRIER_ADAPTER") or "tariff") != "http":
        return table
    client = app.extensions.get("nongsan.carrier_http")
    if client is None:
        # One pooled client per process: connections to the carrier are reused between quotes.
        client = app.extensions["nongsan.carrier_http"] = httpx.Client()
    return HttpCarrierAdapter(config["CARRIER_URL"], config.get("CARRIER_TOKEN"), float(config.get("CARRIER_TIMEOUT") or 2),
                              table, client)
