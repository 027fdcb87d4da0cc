"""VietQR (NAPAS, EMVCo Merchant-Presented Mode) payloads for bank transfers.

The shop shows customers a QR code that any Vietnamese banking app can scan to
pre-fill a transfer: destination bank + account, the exact amount in VND and
the order reference as the transfer message. We later match incoming
transfers to orders by that message, so the reference must survive every
bank's app unchanged -- hence the aggressive ASCII cleanup below.

Payload layout (every field is ID(2) + LEN(2, decimal) + VALUE):

    00 "01"                  payload format indicator
    01 "12"                  point of initiation: dynamic (it carries an amount)
    38 merchant account information (template)
        00 "A000000727"      NAPAS GUID
        01 beneficiary organization (template)
            00 bank BIN      6 digits
            01 account no.   up to 19 letters/digits
        02 "QRIBFTTA"        service: inter-bank transfer to an account
    53 "704"                 currency (VND, ISO 4217)
    54 amount                whole VND, no decimals
    58 "VN"                  country
    62 additional data (template)
        08 purpose           order reference, ASCII, <= 25 chars
    63 CRC                   CRC-16/CCITT-FALSE over everything up to "6304"
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Union

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathFillImage

__all__ = [
    "BANK_BINS",
    "BankInfo",
    "VietQRError",
    "VietQRTransfer",
    "build_vietqr_payload",
    "crc16_ccitt_false",
    "decode_vietqr",
    "normalize_reference",
    "parse_emv_tlv",
    "verify_crc",
    "vietqr_png",
    "vietqr_svg",
]

# --- fixed values from the NAPAS VietQR specification ----------------------

PAYLOAD_FORMAT = "01"
POINT_OF_INITIATION_DYNAMIC = "12"
NAPAS_GUID = "A000000727"
SERVICE_TRANSFER_TO_ACCOUNT = "QRIBFTTA"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"

MAX_ACCOUNT_LENGTH = 19
MAX_AMOUNT_DIGITS = 13
MAX_AMOUNT_VND = 10**MAX_AMOUNT_DIGITS - 1
MAX_REFERENCE_LENGTH = 25

# Field IDs whose values are themselves ID/LEN/VALUE lists (EMVCo: 26-51 are
# merchant account templates, 62 is the additional data template).
_TEMPLATE_IDS = frozenset({f"{n:02d}" for n in range(26, 52)} | {"62"})

# re.ASCII keeps Unicode digits such as Arabic-Indic numerals out; banks only
# understand ASCII.
_BIN_RE = re.compile(r"[0-9]{6}", re.ASCII)
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9]{1,%d}" % MAX_ACCOUNT_LENGTH, re.ASCII)
_NOT_REFERENCE_CHAR_RE = re.compile(r"[^A-Za-z0-9 ]")
_UPPER_HEX4_RE = re.compile(r"[0-9A-F]{4}", re.ASCII)


class VietQRError(ValueError):
    """Invalid VietQR input or payload.

    ``field`` names the offending input ("bank_bin", "account_number",
    "amount", "reference", or "payload" for parse/verify failures) so a form
    can highlight it; ``message_vi`` is ready to show to Vietnamese staff.
    """

    def __init__(self, field: str, message: str, message_vi: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.message_vi = message_vi


@dataclass(frozen=True)
class BankInfo:
    bin: str
    short_name: str
    name_vi: str


# Only banks whose NAPAS BIN is well established; extend from the official
# NAPAS / SBV list rather than from memory.
BANK_BINS: Mapping[str, BankInfo] = MappingProxyType(
    {
        "AGRIBANK": BankInfo(
            "970405", "Agribank", "Ngân hàng Nông nghiệp và Phát triển Nông thôn Việt Nam"
        ),
        "VIETCOMBANK": BankInfo("970436", "Vietcombank", "Ngân hàng TMCP Ngoại thương Việt Nam"),
        "VIETINBANK": BankInfo("970415", "VietinBank", "Ngân hàng TMCP Công Thương Việt Nam"),
        "BIDV": BankInfo("970418", "BIDV", "Ngân hàng TMCP Đầu tư và Phát triển Việt Nam"),
        "SACOMBANK": BankInfo("970403", "Sacombank", "Ngân hàng TMCP Sài Gòn Thương Tín"),
        "MB": BankInfo("970422", "MB", "Ngân hàng TMCP Quân đội"),
        "TECHCOMBANK": BankInfo("970407", "Techcombank", "Ngân hàng TMCP Kỹ Thương Việt Nam"),
        "ACB": BankInfo("970416", "ACB", "Ngân hàng TMCP Á Châu"),
    }
)


# --- CRC ----------------------------------------------------------------------


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.

    Bitwise rather than table-driven: payloads are ~150 bytes, so clarity
    beats speed here.
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def _crc_hex(data: str) -> str:
    return f"{crc16_ccitt_false(data.encode('utf-8')):04X}"


# --- building -----------------------------------------------------------------


def _tlv(field_id: str, value: str) -> str:
    # Input validation keeps every value far below 99 chars; reaching this
    # would be a programming error, not bad user input.
    if not 1 <= len(value) <= 99:
        raise ValueError(f"EMV field {field_id} value length {len(value)} out of range")
    return f"{field_id}{len(value):02d}{value}"


def normalize_reference(text: str) -> str:
    """Turn a free-text order message into what VietQR can carry safely.

    Several banking apps reject or mangle non-ASCII and punctuation in the
    transfer message, which would break matching the transfer to its order.
    So: đ/Đ -> d/D (NFKD does not decompose them), strip diacritics, turn any
    other character into a space, collapse runs of spaces, cut to 25 chars.
    Callers should put the order code first so truncation never removes it.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = _NOT_REFERENCE_CHAR_RE.sub(" ", without_marks)
    collapsed = " ".join(ascii_only.split())
    return collapsed[:MAX_REFERENCE_LENGTH].rstrip()


def build_vietqr_payload(
    bank_bin: str, account_number: str, amount_vnd: int, reference: str
) -> str:
    """Return the VietQR payload string for a transfer of ``amount_vnd`` VND."""
    if not isinstance(bank_bin, str) or not _BIN_RE.fullmatch(bank_bin):
        raise VietQRError(
            "bank_bin",
            "bank BIN must be exactly 6 digits",
            "Mã BIN ngân hàng phải gồm đúng 6 chữ số",
        )
    if not isinstance(account_number, str) or not account_number:
        raise VietQRError(
            "account_number",
            "account number is required",
            "Vui lòng nhập số tài khoản",
        )
    if len(account_number) > MAX_ACCOUNT_LENGTH:
        raise VietQRError(
            "account_number",
            f"account number must be at most {MAX_ACCOUNT_LENGTH} characters",
            f"Số tài khoản tối đa {MAX_ACCOUNT_LENGTH} ký tự",
        )
    if not _ACCOUNT_RE.fullmatch(account_number):
        raise VietQRError(
            "account_number",
            "account number may contain only letters and digits",
            "Số tài khoản chỉ được chứa chữ cái và chữ số",
        )
    # bool is an int subclass; True would silently become a 1 VND transfer.
    if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd <= 0:
        raise VietQRError(
            "amount",
            "amount must be a positive whole number of VND",
            "Số tiền phải là số nguyên dương (VNĐ)",
        )
    if amount_vnd > MAX_AMOUNT_VND:
        raise VietQRError(
            "amount",
            f"amount must have at most {MAX_AMOUNT_DIGITS} digits",
            f"Số tiền tối đa {MAX_AMOUNT_DIGITS} chữ số",
        )
    if not isinstance(reference, str):
        raise VietQRError(
            "reference",
            "reference must be text",
            "Nội dung chuyển khoản phải là chuỗi ký tự",
        )
    clean_reference = normalize_reference(reference)
    if not clean_reference:
        raise VietQRError(
            "reference",
            "reference is empty after removing unsupported characters",
            "Nội dung chuyển khoản trống sau khi loại bỏ ký tự không hợp lệ",
        )

    beneficiary = _tlv("00", bank_bin) + _tlv("01", account_number)
    merchant_account = (
        _tlv("00", NAPAS_GUID)
        + _tlv("01", beneficiary)
        + _tlv("02", SERVICE_TRANSFER_TO_ACCOUNT)
    )
    body = (
        _tlv("00", PAYLOAD_FORMAT)
        + _tlv("01", POINT_OF_INITIATION_DYNAMIC)
        + _tlv("38", merchant_account)
        + _tlv("53", CURRENCY_VND)
        + _tlv("54", str(amount_vnd))
        + _tlv("58", COUNTRY_VN)
        + _tlv("62", _tlv("08", clean_reference))
        + "6304"  # the CRC covers its own ID and length
    )
    return body + _crc_hex(body)


# --- parsing ------------------------------------------------------------------

EmvValue = Union[str, "dict[str, EmvValue]"]


def _payload_error(message: str, message_vi: str) -> VietQRError:
    return VietQRError("payload", message, message_vi)


def _split_tlv(data: str, where: str) -> dict[str, str]:
    """Split one level of ID/LEN/VALUE, rejecting anything not exactly framed."""
    if not data:
        raise _payload_error(f"{where}: empty data", f"{where}: dữ liệu rỗng")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        header = data[pos : pos + 4]
        if len(header) < 4:
            raise _payload_error(
                f"{where}: truncated field header at offset {pos}",
                f"{where}: thiếu phần đầu trường tại vị trí {pos}",
            )
        field_id, length_text = header[:2], header[2:]
        if not (field_id.isascii() and field_id.isdigit()):
            raise _payload_error(
                f"{where}: bad field ID {field_id!r} at offset {pos}",
                f"{where}: mã trường không hợp lệ {field_id!r} tại vị trí {pos}",
            )
        if not (length_text.isascii() and length_text.isdigit()):
            raise _payload_error(
                f"{where}: bad length {length_text!r} for field {field_id}",
                f"{where}: độ dài không hợp lệ {length_text!r} ở trường {field_id}",
            )
        length = int(length_text)
        if length == 0:
            raise _payload_error(
                f"{where}: field {field_id} has zero length",
                f"{where}: trường {field_id} có độ dài bằng 0",
            )
        start, end = pos + 4, pos + 4 + length
        if end > len(data):
            raise _payload_error(
                f"{where}: field {field_id} truncated (needs {length}, has {len(data) - start})",
                f"{where}: trường {field_id} bị cắt cụt",
            )
        if field_id in fields:
            raise _payload_error(
                f"{where}: duplicate field {field_id}",
                f"{where}: trường {field_id} bị lặp",
            )
        fields[field_id] = data[start:end]
        pos = end
    return fields


def parse_emv_tlv(payload: str) -> dict[str, EmvValue]:
    """Parse an EMVCo QR payload into ``{field_id: value}``.

    Templates (IDs 26-51 and 62) become nested dicts. Inside a NAPAS merchant
    account template (sub-field 00 == "A000000727"), sub-field 01 is itself a
    template (bank BIN + account) and is parsed too. Dict order follows the
    payload. This checks framing only; call ``verify_crc`` for integrity.
    Raises ``VietQRError(field="payload")`` on any malformed or truncated data.
    """
    if not isinstance(payload, str):
        raise _payload_error("payload must be a string", "Dữ liệu QR phải là chuỗi ký tự")
    result: dict[str, EmvValue] = {}
    for field_id, value in _split_tlv(payload, "root").items():
        if field_id not in _TEMPLATE_IDS:
            result[field_id] = value
            continue
        sub: dict[str, EmvValue] = dict(_split_tlv(value, f"field {field_id}"))
        if sub.get("00") == NAPAS_GUID and isinstance(sub.get("01"), str):
            sub["01"] = dict(_split_tlv(sub["01"], f"field {field_id}.01"))
        result[field_id] = sub
    return result


def verify_crc(payload: str) -> bool:
    """True iff the payload is well framed, ends with field 63 and its CRC matches.

    The CRC must be uppercase hex: EMVCo specifies it so, and being strict
    means a tampered digit is never "fixed" by case folding.
    """
    if not isinstance(payload, str) or len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    crc_text = payload[-4:]
    if not _UPPER_HEX4_RE.fullmatch(crc_text):
        return False
    try:
        fields = parse_emv_tlv(payload)
    except VietQRError:
        return False
    # "6304" could in principle appear inside another value; require that it
    # really is the last top-level field.
    if next(reversed(fields)) != "63":
        return False
    return _crc_hex(payload[:-4]) == crc_text


@dataclass(frozen=True)
class VietQRTransfer:
    bank_bin: str
    account_number: str
    amount_vnd: int | None
    reference: str | None


def decode_vietqr(payload: str) -> VietQRTransfer:
    """Verify and extract the transfer details from a VietQR payload."""
    if not verify_crc(payload):
        raise _payload_error("CRC check failed or payload malformed", "Mã QR không hợp lệ (sai CRC)")
    fields = parse_emv_tlv(payload)
    account_info = next(
        (
            v
            for k, v in fields.items()
            if k in _TEMPLATE_IDS and k != "62" and isinstance(v, dict) and v.get("00") == NAPAS_GUID
        ),
        None,
    )
    beneficiary = account_info.get("01") if account_info else None
    if not isinstance(beneficiary, dict) or not all(
        isinstance(beneficiary.get(k), str) for k in ("00", "01")
    ):
        raise _payload_error("no NAPAS beneficiary account", "Không tìm thấy tài khoản thụ hưởng NAPAS")
    if fields.get("53") != CURRENCY_VND:
        raise _payload_error("currency is not VND", "Đơn vị tiền tệ không phải VNĐ")

    amount: int | None = None
    amount_text = fields.get("54")
    if amount_text is not None:
        if not (isinstance(amount_text, str) and amount_text.isascii() and amount_text.isdigit()):
            raise _payload_error("amount is not a whole VND number", "Số tiền không phải số nguyên VNĐ")
        amount = int(amount_text)

    additional = fields.get("62")
    reference = additional.get("08") if isinstance(additional, dict) else None
    return VietQRTransfer(
        bank_bin=str(beneficiary["00"]),
        account_number=str(beneficiary["01"]),
        amount_vnd=amount,
        reference=reference if isinstance(reference, str) else None,
    )


# --- rendering ----------------------------------------------------------------


def _make_qr(payload: str, box_size: int, image_factory: type | None = None) -> qrcode.QRCode:
    # Rendering a broken payload would give customers a code their bank app
    # rejects; fail here instead, where the developer sees it.
    if not verify_crc(payload):
        raise _payload_error("refusing to render an invalid payload", "Không thể tạo mã QR từ dữ liệu không hợp lệ")
    if isinstance(box_size, bool) or not isinstance(box_size, int) or box_size < 1:
        raise ValueError("box_size must be a positive integer")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=4,  # quiet zone required by the QR spec for reliable scanning
        image_factory=image_factory,
    )
    qr.add_data(payload)
    qr.make(fit=True)
    return qr


def vietqr_png(payload: str, box_size: int = 8) -> bytes:
    """Render the payload as a PNG QR code (error correction level M)."""
    image = _make_qr(payload, box_size).make_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def vietqr_svg(payload: str) -> str:
    """Render the payload as a standalone SVG document (error correction M).

    Uses a white background so the code still scans on dark-themed pages.
    """
    image = _make_qr(payload, box_size=10, image_factory=SvgPathFillImage).make_image()
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")
