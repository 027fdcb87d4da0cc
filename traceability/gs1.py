"""GS1 identifiers and GS1 Digital Link paths for nongsan traceability.

Every traceable unit of produce is identified by a GTIN (AI 01), optionally
narrowed down to a batch (lot, AI 10) or a single item (serial, AI 21).  The
QR code printed on a package carries a GS1 Digital Link URI such as::

    https://id.example.vn/01/08934588012112/10/LO-2024%2F07/21/A0001

This module builds and parses those identifiers.  It is deliberately pure
(no I/O, stdlib only) so the same code can run in the web layer, in workers
and in tests.  Anything that fails validation raises :class:`GS1Error`, which
carries the offending field and an English and a Vietnamese message, so an
HTTP handler can answer ``{"error": ..., "field": ...}`` without having to
know the rules itself.

Scope, on purpose kept narrow:

* Only numeric AIs are understood.  GS1 Digital Link also defines
  "convenience" alphabetic keys (``/gtin/...``, ``/lot/...``); we do not accept
  them, so every QR code we print and every link we resolve has one canonical
  shape.
* The only primary key is AI 01 (GTIN); the only qualifiers are AI 10 and AI 21,
  in that order.  Other qualifiers allowed by the standard for GTIN (e.g. AI 22,
  consumer product variant) are rejected with an explicit "unsupported AI"
  error rather than silently ignored, because dropping part of an identifier
  would make two different products look identical.

References: GS1 General Specifications (check digit calculation, AI character
set 82) and GS1 Digital Link URI Syntax 1.2 / RFC 3986 (percent-encoding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, quote, unquote_to_bytes, urlsplit

__all__ = [
    "GS1Error",
    "CHARSET_82",
    "MAX_LOT_LENGTH",
    "MAX_SERIAL_LENGTH",
    "gtin_check_digit",
    "is_valid_gtin",
    "normalize_gtin",
    "make_gtin14",
    "validate_lot",
    "validate_serial",
    "DigitalLink",
    "parse_digital_link_path",
    "parse_digital_link_uri",
]


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class GS1Error(ValueError):
    """A GS1 identifier or Digital Link failed validation.

    Subclassing ``ValueError`` keeps it compatible with code that already
    treats bad input as a ``ValueError``; the extra attributes let a web layer
    point the user at the exact field and speak Vietnamese to shop customers.

    Attributes:
        field: which input was wrong, e.g. ``"gtin"``, ``"lot"``, ``"serial"``,
            ``"path"``, ``"uri"``.
        message: English explanation (also the ``str()`` of the exception).
        message_vi: the same explanation in Vietnamese.
    """

    def __init__(self, field: str, message: str, message_vi: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.message_vi = message_vi

    def as_dict(self, lang: str = "en") -> dict[str, str]:
        """Return a JSON-ready ``{"error": ..., "field": ...}`` body.

        ``lang="vi"`` selects the Vietnamese message; anything else English.
        """
        text = self.message_vi if lang == "vi" else self.message
        return {"error": text, "field": self.field}

    def __repr__(self) -> str:
        return f"GS1Error(field={self.field!r}, message={self.message!r})"


def _preview(value: str, limit: int = 24) -> str:
    """Quote user input for an error message without echoing unbounded text.

    Error messages end up in logs and HTTP responses; a multi-kilobyte path
    should not be reflected back verbatim.
    """
    if len(value) > limit:
        value = value[:limit] + "…"
    return repr(value)


# --------------------------------------------------------------------------
# GTIN
# --------------------------------------------------------------------------

# Lengths of the GTIN family: GTIN-8 (EAN-8), GTIN-12 (UPC-A), GTIN-13 (EAN-13)
# and GTIN-14.  All of them are the same number space once left-padded to 14.
_GTIN_LENGTHS: Final = (8, 12, 13, 14)

# ``str.isdigit`` accepts things like "²" or Arabic-Indic digits, which would
# slip through and then break ``int()`` or a barcode printer; only ASCII counts.
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _is_ascii_digits(value: str) -> bool:
    return _ASCII_DIGITS.fullmatch(value) is not None


def gtin_check_digit(body: str) -> int:
    """Compute the GS1 mod-10 check digit for ``body`` (the digits before it).

    Weights alternate 3, 1, 3, ... starting from the rightmost digit of the
    body.  Anchoring the weights on the right is what makes a GTIN keep the
    same check digit when it is padded with leading zeros, so GTIN-8/12/13 can
    be widened to 14 digits without recomputation.

    The same algorithm serves every fixed-length GS1 key, so any non-empty
    string of ASCII digits is accepted.

    Raises:
        GS1Error: (field ``"gtin"``) if ``body`` is empty or not all digits.
    """
    if not isinstance(body, str) or not _is_ascii_digits(body):
        raise GS1Error(
            "gtin",
            "Check digit input must be a non-empty string of digits 0-9",
            "Dữ liệu để tính chữ số kiểm tra phải là một chuỗi chữ số 0–9 không rỗng",
        )
    total = 0
    for position, char in enumerate(reversed(body)):
        weight = 3 if position % 2 == 0 else 1
        total += weight * (ord(char) - 48)
    return (10 - total % 10) % 10


def normalize_gtin(code: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as 14 digits.

    Storing and comparing GTINs in one width avoids the classic bug where
    ``"4006381333931"`` and ``"04006381333931"`` are treated as different
    products.  Input is not trimmed or otherwise cleaned: callers that accept
    human input should strip whitespace themselves, so that the identifier in
    the database is exactly what was scanned.

    Raises:
        GS1Error: (field ``"gtin"``) for non-strings, non-digits, a length
            other than 8, 12, 13 or 14, or a wrong check digit.
    """
    if not isinstance(code, str):
        raise GS1Error(
            "gtin",
            "GTIN must be given as a string (numbers lose leading zeros)",
            "GTIN phải được truyền dưới dạng chuỗi ký tự (kiểu số sẽ làm mất các số 0 ở đầu)",
        )
    if not _is_ascii_digits(code):
        raise GS1Error(
            "gtin",
            f"GTIN must contain only digits 0-9, got {_preview(code)}",
            f"GTIN chỉ được chứa các chữ số 0–9, nhận được {_preview(code)}",
        )
    if len(code) not in _GTIN_LENGTHS:
        raise GS1Error(
            "gtin",
            f"GTIN must have 8, 12, 13 or 14 digits, got {len(code)}",
            f"GTIN phải có 8, 12, 13 hoặc 14 chữ số, nhận được {len(code)}",
        )
    expected = gtin_check_digit(code[:-1])
    actual = ord(code[-1]) - 48
    if expected != actual:
        raise GS1Error(
            "gtin",
            f"GTIN check digit is wrong: expected {expected}, got {actual}",
            f"Chữ số kiểm tra của GTIN không đúng: phải là {expected}, nhận được {actual}",
        )
    return code.zfill(14)


def is_valid_gtin(code: Any) -> bool:
    """Return True if ``code`` is a valid GTIN-8/12/13/14 string.

    Never raises, so it is safe for quick filtering of untrusted input; use
    :func:`normalize_gtin` when the reason for rejection matters.
    """
    try:
        normalize_gtin(code)
    except GS1Error:
        return False
    return True


def make_gtin14(company_prefix: str, item_reference: int, indicator: int = 0) -> str:
    """Build a GTIN-14 from its parts: indicator, company prefix, item reference.

    A GS1 company prefix (Vietnam's range starts with 893) is 6 to 12 digits
    long; whatever is left of the 12 digits between the indicator and the
    check digit is the item reference, zero-padded on the left.  With a
    12-digit prefix (a licence for a single GTIN) there is no room left, so
    the only acceptable item reference is 0.

    ``indicator`` 0 gives a trade item whose GTIN-14 is just the GTIN-13 with
    a leading zero; 1-8 are used for packaging levels (cartons, pallets) and
    9 for variable-measure items such as produce sold by weight.

    Raises:
        GS1Error: field ``"company_prefix"``, ``"item_reference"`` or
            ``"indicator"`` when the respective part is out of range.
    """
    if (
        not isinstance(company_prefix, str)
        or not _is_ascii_digits(company_prefix)
        or not 6 <= len(company_prefix) <= 12
    ):
        raise GS1Error(
            "company_prefix",
            "GS1 company prefix must be a string of 6 to 12 digits",
            "Mã doanh nghiệp GS1 phải là chuỗi từ 6 đến 12 chữ số",
        )
    # bool is an int subclass; True as an item reference is always a bug.
    if not isinstance(indicator, int) or isinstance(indicator, bool) or not 0 <= indicator <= 9:
        raise GS1Error(
            "indicator",
            "Indicator digit must be an integer from 0 to 9",
            "Số chỉ thị phải là số nguyên từ 0 đến 9",
        )
    width = 12 - len(company_prefix)
    if (
        not isinstance(item_reference, int)
        or isinstance(item_reference, bool)
        or not 0 <= item_reference < 10**width
    ):
        raise GS1Error(
            "item_reference",
            f"Item reference must be an integer from 0 to {10**width - 1} "
            f"for a {len(company_prefix)}-digit company prefix",
            f"Mã mặt hàng phải là số nguyên từ 0 đến {10**width - 1} "
            f"khi mã doanh nghiệp có {len(company_prefix)} chữ số",
        )
    reference_digits = f"{item_reference:0{width}d}" if width else ""
    body = f"{indicator}{company_prefix}{reference_digits}"
    return body + str(gtin_check_digit(body))


# --------------------------------------------------------------------------
# Lot (AI 10) and serial (AI 21)
# --------------------------------------------------------------------------

# GS1 AI encodable character set 82: the printable ASCII characters that
# every GS1 data carrier can encode.  Notably absent: space, '#', '$', '@',
# '[', '\\', ']', '^', '`', '{', '|', '}', '~' and all non-ASCII text, so a
# Vietnamese lot name like "LÔ-1" must be transliterated before use.
CHARSET_82: Final[frozenset[str]] = frozenset(
    "0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz"
    "!\"%&'()*+,-./:;<=>?_"
)

MAX_LOT_LENGTH: Final = 20
MAX_SERIAL_LENGTH: Final = 20

# Names used in messages for each field; Vietnamese first letter is upper-
# case because the names always begin a sentence.
_FIELD_NAMES: Final = {
    "lot": ("Lot number", "Số lô"),
    "serial": ("Serial number", "Số sê-ri"),
}


def _validate_ai_text(value: Any, field: str, max_length: int) -> str:
    """Shared rule for AI 10 and AI 21: 1..max_length characters of set 82."""
    name_en, name_vi = _FIELD_NAMES[field]
    if not isinstance(value, str):
        raise GS1Error(
            field,
            f"{name_en} must be a string",
            f"{name_vi} phải là chuỗi ký tự",
        )
    if not 1 <= len(value) <= max_length:
        raise GS1Error(
            field,
            f"{name_en} must be 1 to {max_length} characters long, got {len(value)}",
            f"{name_vi} phải dài từ 1 đến {max_length} ký tự, nhận được {len(value)}",
        )
    for position, char in enumerate(value, start=1):
        if char not in CHARSET_82:
            raise GS1Error(
                field,
                f"{name_en} contains character {char!r} at position {position}, "
                "which is not allowed by GS1 (character set 82)",
                f"{name_vi} chứa ký tự {char!r} ở vị trí {position}, "
                "không được phép theo GS1 (bộ ký tự 82)",
            )
    return value


def validate_lot(lot: str) -> str:
    """Return ``lot`` unchanged if it is a valid AI 10 value, else raise.

    Raises:
        GS1Error: (field ``"lot"``) for empty, over-long (> 20) values or
            characters outside GS1 character set 82.
    """
    return _validate_ai_text(lot, "lot", MAX_LOT_LENGTH)


def validate_serial(serial: str) -> str:
    """Return ``serial`` unchanged if it is a valid AI 21 value, else raise.

    Raises:
        GS1Error: (field ``"serial"``) for empty, over-long (> 20) values or
            characters outside GS1 character set 82.
    """
    return _validate_ai_text(serial, "serial", MAX_SERIAL_LENGTH)


# --------------------------------------------------------------------------
# GS1 Digital Link
# --------------------------------------------------------------------------


def _encode_segment(value: str) -> str:
    """Percent-encode every character outside RFC 3986 "unreserved".

    GS1 Digital Link 1.2 asks for this stricter-than-necessary encoding (RFC
    3986 would allow e.g. '!' or '*' raw in a path) so that one identifier has
    exactly one URI spelling.  ``quote`` with ``safe=""`` leaves precisely
    ``A-Za-z0-9-._~`` alone.
    """
    return quote(value, safe="")


def _split_url(url: Any) -> SplitResult | None:
    """``urlsplit`` that refuses input it would silently rewrite.

    ``urlsplit`` deletes tab/CR/LF anywhere in the URL and strips leading
    control characters and spaces (a WHATWG-compatibility measure), so
    ``.../10/A\tB`` would quietly become lot ``AB``.  For identifiers that is
    worse than an error, hence whitespace and control characters make the URL
    invalid here.  Malformed hosts (``urlsplit`` raises ``ValueError``) are
    reported the same way.
    """
    if not isinstance(url, str) or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _check_base_url(base_url: str) -> str:
    """Validate a resolver base URL and strip its trailing slashes."""
    parts = _split_url(base_url)
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or "?" in base_url
        or "#" in base_url
    ):
        raise GS1Error(
            "base_url",
            "Base URL must be an http(s) URL with a host and no query or fragment",
            "URL gốc phải là URL http(s) có tên miền, không có chuỗi truy vấn hoặc phân đoạn",
        )
    return base_url.rstrip("/")


@dataclass(frozen=True)
class DigitalLink:
    """A GS1 Digital Link for a GTIN, optionally narrowed to a lot/serial.

    Construction validates every part and stores the GTIN in its 14-digit
    form, so two links for the same item always compare equal and an invalid
    instance cannot exist.  A serial without a lot is allowed: GS1 Digital
    Link permits ``/01/{gtin}/21/{serial}`` because a serial is already unique
    within its GTIN.
    """

    gtin: str
    lot: str | None = None
    serial: str | None = None

    def __post_init__(self) -> None:
        # frozen=True forbids normal assignment; object.__setattr__ is the
        # documented escape hatch for normalising during construction.
        object.__setattr__(self, "gtin", normalize_gtin(self.gtin))
        if self.lot is not None:
            validate_lot(self.lot)
        if self.serial is not None:
            validate_serial(self.serial)

    @property
    def path(self) -> str:
        """The Digital Link path, e.g. ``/01/09506000134352/10/AB%2F1``."""
        parts = ["", "01", self.gtin]
        if self.lot is not None:
            parts += ["10", _encode_segment(self.lot)]
        if self.serial is not None:
            parts += ["21", _encode_segment(self.serial)]
        return "/".join(parts)

    def uri(self, base_url: str) -> str:
        """Join ``base_url`` (e.g. ``https://id.example.vn``) with :attr:`path`.

        Trailing slashes on the base are removed so the result never contains
        ``//01/``.  The base may carry a path prefix, but note that
        :func:`parse_digital_link_uri` only accepts URIs whose path starts at
        ``/01/``; use a dedicated host if links must round-trip.

        Raises:
            GS1Error: (field ``"base_url"``) if the base is not an http(s) URL
                with a host, or has a query string or fragment.
        """
        return _check_base_url(base_url) + self.path

    @property
    def element_string(self) -> str:
        """Human-readable element string, e.g. ``(01)09506000134352(10)ABC``.

        This is the text printed under a barcode for people to read; it is
        not meant to be parsed back, since a lot may itself contain brackets.
        """
        text = f"(01){self.gtin}"
        if self.lot is not None:
            text += f"(10){self.lot}"
        if self.serial is not None:
            text += f"(21){self.serial}"
        return text


# Field name and relative order of each qualifier AI that may follow AI 01.
_QUALIFIERS: Final = {"10": ("lot", 1), "21": ("serial", 2)}
_AI_FIELD: Final = {"01": "gtin", "10": "lot", "21": "serial"}
# A '%' must introduce exactly two hex digits; anything else is malformed.
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _path_error(message: str, message_vi: str) -> GS1Error:
    return GS1Error("path", message, message_vi)


def _decode_segment(raw: str, ai: str) -> str:
    """Percent-decode one value segment, strictly.

    ``urllib.parse.unquote`` silently keeps malformed escapes such as ``%G1``
    as literal text, and since '%' is a legal lot character that would turn a
    corrupted URI into a different, valid-looking lot.  We reject them
    instead.  Decoded bytes are read as UTF-8; anything non-ASCII is later
    refused by the character-set check with a readable message.
    """
    field = _AI_FIELD[ai]
    if _BAD_PERCENT.search(raw):
        raise GS1Error(
            field,
            f"Invalid percent-encoding in the value of AI {ai}",
            f"Mã hoá phần trăm không hợp lệ trong giá trị của AI {ai}",
        )
    return unquote_to_bytes(raw).decode("utf-8", errors="replace")


def parse_digital_link_path(path: str) -> DigitalLink:
    """Parse a GS1 Digital Link URI path into a :class:`DigitalLink`.

    Expects the *raw* (still percent-encoded) path.  Under Flask/Werkzeug,
    ``request.path`` is already decoded and must not be used: a lot
    containing an encoded '/' would split into extra segments.  Take the raw
    request target from the WSGI environ instead (``RAW_URI`` under gunicorn
    and the Werkzeug dev server; some servers only provide ``REQUEST_URI``)
    and cut it at the first '?'.

    Accepted shape: ``/01/{gtin}[/10/{lot}][/21/{serial}]`` with at most one
    trailing slash.  The GTIN may be 8, 12, 13 or 14 digits and is normalised
    to 14.

    Raises:
        GS1Error: field ``"path"`` for structural problems (not starting with
            ``/01/``, unknown or repeated AIs, qualifiers out of order, empty
            segments, query/fragment characters); field ``"gtin"``, ``"lot"``
            or ``"serial"`` when a value itself is missing or invalid.
    """
    if not isinstance(path, str):
        raise _path_error(
            "Digital Link path must be a string",
            "Đường dẫn Digital Link phải là chuỗi ký tự",
        )
    if "?" in path or "#" in path:
        # A raw '?' or '#' cannot be part of a path; the caller most likely
        # passed a whole URI or path+query.  Guessing would be unsafe.
        raise _path_error(
            "Digital Link path must not contain '?' or '#'; "
            "pass only the path, or use parse_digital_link_uri",
            "Đường dẫn Digital Link không được chứa '?' hoặc '#'; "
            "chỉ truyền phần đường dẫn, hoặc dùng parse_digital_link_uri",
        )
    if not path.startswith("/01/"):
        raise _path_error(
            f"Digital Link path must start with /01/, got {_preview(path)}",
            f"Đường dẫn Digital Link phải bắt đầu bằng /01/, nhận được {_preview(path)}",
        )
    if path.endswith("/"):
        path = path[:-1]  # tolerate exactly one; a second shows up as empty

    segments = path[1:].split("/")
    if "" in segments:
        raise _path_error(
            "Digital Link path contains an empty segment (two slashes in a row)",
            "Đường dẫn Digital Link có đoạn rỗng (hai dấu gạch chéo liền nhau)",
        )

    values: dict[str, str] = {}
    last_rank = 0
    for index in range(0, len(segments), 2):
        ai = segments[index]
        if index == 0:
            pass  # guaranteed "01" by the startswith check above
        elif ai == "01":
            raise _path_error(
                "AI 01 (GTIN) may appear only once, as the primary key",
                "AI 01 (GTIN) chỉ được xuất hiện một lần, làm khoá chính",
            )
        elif ai not in _QUALIFIERS:
            raise _path_error(
                f"Unsupported application identifier {_preview(ai)}; "
                "only 10 (lot) and 21 (serial) may follow 01",
                f"Không hỗ trợ mã định danh ứng dụng (AI) {_preview(ai)}; "
                "sau 01 chỉ được có 10 (số lô) và 21 (số sê-ri)",
            )
        elif ai in values:
            raise _path_error(
                f"AI {ai} appears more than once",
                f"AI {ai} xuất hiện nhiều hơn một lần",
            )
        else:
            rank = _QUALIFIERS[ai][1]
            if rank < last_rank:
                raise _path_error(
                    "AI 10 (lot) must come before AI 21 (serial)",
                    "AI 10 (số lô) phải đứng trước AI 21 (số sê-ri)",
                )
            last_rank = rank

        if index + 1 >= len(segments):
            raise GS1Error(
                _AI_FIELD[ai],
                f"AI {ai} has no value",
                f"AI {ai} thiếu giá trị",
            )
        values[ai] = _decode_segment(segments[index + 1], ai)

    # DigitalLink validates the decoded values and normalises the GTIN.
    return DigitalLink(gtin=values["01"], lot=values.get("10"), serial=values.get("21"))


def parse_digital_link_uri(uri: str) -> DigitalLink:
    """Parse a full ``http(s)://host/01/...`` GS1 Digital Link URI.

    The host is ignored, so links printed with any resolver domain are
    understood; the query string (e.g. ``?linkType=...``) and fragment are
    dropped because they carry link-selection hints, not identity.

    Raises:
        GS1Error: field ``"uri"`` if this is not an absolute http(s) URI with
            a host; otherwise whatever :func:`parse_digital_link_path` raises.
    """
    parts = _split_url(uri)
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise GS1Error(
            "uri",
            "Digital Link URI must be an absolute http or https URI with a host "
            "and without spaces or control characters",
            "URI Digital Link phải là URI http hoặc https đầy đủ, có tên miền "
            "và không chứa khoảng trắng hay ký tự điều khiển",
        )
    # urlsplit keeps percent-escapes in .path intact, which is what the path
    # parser needs.
    return parse_digital_link_path(parts.path)
