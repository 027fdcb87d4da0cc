"""Numbers as the reader writes them: 1.234,5 in Vietnamese, 1,234.5 in English; months as mm/yyyy."""

from __future__ import annotations

from flask import has_request_context
from flask_babel import get_locale


def _locale() -> str:
    if not has_request_context():
        return "vi"
    return str(get_locale() or "vi")


def format_number(value, decimals: int = 0, locale: str | None = None) -> str:
    if value is None:
        return "—"
    text = f"{float(value):,.{decimals}f}" if decimals else f"{round(value):,}"
    if (locale or _locale()) == "en":
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def format_percent(value, decimals: int = 1, locale: str | None = None) -> str:
    return format_number(value, decimals, locale) + " %"


def format_month(key: str) -> str:
    """'2026-11' → '11/2026'."""
    year, _, month = key.partition("-")
    return f"{month}/{year}" if month else key
