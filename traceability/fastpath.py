"""A micro-cache in front of Flask for scan rushes.

When a QR code on a popular batch is scanned thousands of times in a minute, almost every request
asks for a page rendered moments ago. This WSGI middleware answers those requests from the trace
page cache (the one `views._trace_page` fills) without entering Flask: it only counts the scan and
sends the cached bytes (or 304). Anything unusual — a logged-in visitor, a serialised unit, another
link type, a JSON client, a stale entry — goes through the application as usual.
"""

from __future__ import annotations

import time
from datetime import datetime

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header, parse_cookie

from traceability.events import LOCAL_TZ

SUPPORTED = ("vi", "en")


def _locale(environ) -> str:
    cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
    chosen = cookies.get("lang")
    if chosen in SUPPORTED:
        return chosen
    header = environ.get("HTTP_ACCEPT_LANGUAGE", "")
    if not header:
        return "vi"
    return parse_accept_header(header, LanguageAccept).best_match(SUPPORTED, default="vi") or "vi"


class ScanFastPath:
    def __init__(self, app, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        counter = self.app.extensions.get("nongsan.scan_buffer") or self.app.extensions.get("nongsan.scan_redis_counter")
        # Without an in-memory or Redis counter every scan is written by the application itself.
        entry = self._hit(environ) if counter is not None else None
        if entry is None:
            return self.wsgi_app(environ, start_response)
        _stamp, body, status, etag, headers, batch = entry
        counter.add(batch[0], batch[1], datetime.now(LOCAL_TZ).date())
        if environ.get("HTTP_IF_NONE_MATCH", "").strip() in (f'"{etag}"', f'W/"{etag}"'):
            start_response("304 NOT MODIFIED", [h for h in headers if h[0] != "Content-Length"])
            return [b""]
        start_response(status, headers)
        return [body]

    def _hit(self, environ):
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/01/") or "/21/" in path:
            return None
        query = environ.get("QUERY_STRING", "")
        if query not in ("", "linkType=gs1:pip", "linkType=gs1%3Apip"):
            return None
        cookie = environ.get("HTTP_COOKIE", "")
        if "session=" in cookie or "remember_token=" in cookie:
            return None  # someone logged in (or with a cart) gets the application
        if "application/json" in environ.get("HTTP_ACCEPT", ""):
            return None
        raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or path).split("?", 1)[0]
        entry = self.app.extensions.get("nongsan.trace_fast", {}).get((raw, query, _locale(environ)))
        if entry is None or time.monotonic() - entry[0] >= self.app.config.get("TRACE_PAGE_CACHE_SECONDS", 30):
            return None
        return entry
