"""The quote cache: Redis when the deployment has one, else a small cache inside the process.

A quote is cached by (carrier adapter, tariff version tag, from province, to province and whether
the commune is remote, weight band, COD band). The weight band is the chargeable 500 g step and the
COD band the amount rounded up to COD_BAND_VND; every quote, cached or not, is priced on its band's
upper bound (weight = steps × 500 g, COD = band × COD_BAND_VND), so a hit and a miss give the same
price. The tariff's tag is the version's row id and a digest of its rates: once a new version is in
force, no key of an older one is ever asked for again, and publishing also drops those keys.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Protocol

from flask import Flask, current_app

from workers.postal.schemas import Parcel
from workers.postal.tariff import STEP_G, ActiveTariff, chargeable_weight_g, weight_steps

log = logging.getLogger(__name__)

PREFIX = "nongsan:quote:"
COD_BAND_VND = 1_000
HEAD_KEY = "nongsan:tariff:head"
# The pointer expires, so a pointer left behind (Redis unreachable at the moment of publishing) is
# re-read from the database within this time.
HEAD_TTL_SECONDS = 30
# A price the carrier did not give (it failed and the tariff stood in) is kept only briefly, so
# the carrier is asked again soon.
FALLBACK_TTL_SECONDS = 30


@dataclass(frozen=True)
class QuoteBand:
    from_province: int
    to_province: int
    remote: bool
    steps: int
    cod_band: int

    def suffix(self, adapter: str) -> str:
        where = f"{self.from_province}-{self.to_province}{'r' if self.remote else ''}"
        return f":{adapter}:{where}:{self.steps}:{self.cod_band}"

    def key(self, adapter: str, tariff: ActiveTariff) -> str:
        return f"{PREFIX}{tariff.tag}{self.suffix(adapter)}"

    def parcel(self, original: Parcel) -> Parcel:
        """The parcel the band is priced on."""
        return replace(original, weight_g=self.steps * STEP_G, length_cm=0, width_cm=0, height_cm=0,
                       cod_amount_vnd=self.cod_band * COD_BAND_VND)


def band_of(parcel: Parcel, tariff: ActiveTariff) -> QuoteBand:
    rates = tariff.rates
    return QuoteBand(
        from_province=parcel.from_province_code,
        to_province=parcel.to_province_code,
        remote=parcel.to_ward_code in rates.remote_wards,
        steps=weight_steps(chargeable_weight_g(parcel, rates.volumetric_divisor)),
        cod_band=math.ceil(parcel.cod_amount_vnd / COD_BAND_VND),
    )


class QuoteCache(Protocol):
    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, value: dict, ttl: int) -> None: ...

    def lookup(self, suffix: str) -> tuple[str | None, dict | None]:
        """In one step: the version in force as the shared pointer knows it (its `head`), and the
        quote cached under it for this key suffix. (None, None) when there is no shared pointer."""
        ...

    def point_to(self, tariff: ActiveTariff) -> None:
        """Tell every process which version is in force (never moving back to an older one)."""
        ...

    def retain_only(self, tariff_tag: str) -> int:
        """Drop every quote priced under another tariff version; returns how many went."""
        ...

    def switch_to(self, tariff: ActiveTariff) -> None: ...


class _NoSharedPointer:
    """Caches without a shared pointer: each quote reads the version in force from the database."""

    def lookup(self, suffix: str) -> tuple[str | None, dict | None]:
        return None, None

    def point_to(self, tariff: ActiveTariff) -> None:
        return None

    def switch_to(self, tariff: ActiveTariff) -> None:
        self.retain_only(tariff.tag)


class NoQuoteCache(_NoSharedPointer):
    def get(self, key: str) -> dict | None:
        return None

    def put(self, key: str, value: dict, ttl: int) -> None:
        return None

    def retain_only(self, tariff_tag: str) -> int:
        return 0


class MemoryQuoteCache(_NoSharedPointer):
    """For the embedded setup (no Redis): per process, bounded, least recently used goes first."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, value: dict, ttl: int) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def retain_only(self, tariff_tag: str) -> int:
        keep = f"{PREFIX}{tariff_tag}:"
        with self._lock:
            stale = [key for key in self._entries if not key.startswith(keep)]
            for key in stale:
                del self._entries[key]
        return len(stale)


# The pointer to the version in force and the quote under it, read in one round trip.
_LOOKUP = """
local head = redis.call('GET', KEYS[1])
if not head then return {false, false} end
local tag = string.match(head, '([^|]+)$')
return {head, redis.call('GET', ARGV[1] .. tag .. ARGV[2])}
"""
# Move the pointer, unless it already names a newer version (a process that read the database
# just before a publish must not move it back).
_POINT = """
local current = redis.call('GET', KEYS[1])
if current and (tonumber(string.match(current, '^(%d+)|') or '0') > tonumber(ARGV[2])) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class RedisQuoteCache:
    """Shared by every web and worker process. A Redis failure makes a quote a miss, never an error.

    Besides the quotes it holds a pointer to the tariff version in force (HEAD_KEY), moved when a
    version is published and re-read from the database by the first quote after it expires. A
    process that still remembers the version the pointer names prices from memory; so a cache hit
    costs one Redis round trip and no database query, and a new version is used by the next quote.
    """

    def __init__(self, client) -> None:
        self.client = client
        self._lookup = client.register_script(_LOOKUP)
        self._point = client.register_script(_POINT)

    def lookup(self, suffix: str) -> tuple[str | None, dict | None]:
        import redis

        try:
            head, raw = self._lookup(keys=[HEAD_KEY], args=[PREFIX, suffix])
        except redis.RedisError as error:
            log.warning("quote cache unavailable: %s", error)
            return None, None
        return (head.decode() if head else None), (json.loads(raw) if raw else None)

    def point_to(self, tariff: ActiveTariff) -> None:
        import redis

        try:
            self._point(keys=[HEAD_KEY], args=[tariff.head, tariff.version, HEAD_TTL_SECONDS])
        except redis.RedisError as error:
            log.warning("quote cache unavailable: %s", error)

    def switch_to(self, tariff: ActiveTariff) -> None:
        self.point_to(tariff)
        self.retain_only(tariff.tag)

    def get(self, key: str) -> dict | None:
        import redis

        try:
            raw = self.client.get(key)
        except redis.RedisError as error:
            log.warning("quote cache unavailable: %s", error)
            return None
        return json.loads(raw) if raw else None

    def put(self, key: str, value: dict, ttl: int) -> None:
        import redis

        try:
            self.client.set(key, json.dumps(value, separators=(",", ":")), ex=ttl)
        except redis.RedisError as error:
            log.warning("quote cache unavailable: %s", error)

    def retain_only(self, tariff_tag: str) -> int:
        import redis

        keep = f"{PREFIX}{tariff_tag}:".encode()
        dropped = 0
        try:
            stale: list[bytes] = []
            for key in self.client.scan_iter(match=f"{PREFIX}*", count=1000):
                if not key.startswith(keep):
                    stale.append(key)
                if len(stale) >= 500:
                    dropped += self.client.unlink(*stale)
                    stale.clear()
            if stale:
                dropped += self.client.unlink(*stale)
        except redis.RedisError as error:
            # The old keys cannot be served anyway (the tag is in the key); they expire on their own.
            log.warning("could not drop old quotes: %s", error)
        return dropped


def quote_cache(app: Flask | None = None) -> QuoteCache:
    """The application's quote cache, made on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get("nongsan.quote_cache")
    if cache is None:
        url = app.config.get("REDIS_URL")
        if int(app.config.get("QUOTE_CACHE_SECONDS") or 0) <= 0:
            cache = NoQuoteCache()
        elif url:
            import redis

            cache = RedisQuoteCache(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1))
        else:
            cache = MemoryQuoteCache()
        app.extensions["nongsan.quote_cache"] = cache
    return cache
