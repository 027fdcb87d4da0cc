"""QR codes whose payload is exactly a GS1 Digital Link URI."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q

ERROR_LEVELS = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H}
QUIET_ZONE_MODULES = 4  # the margin ISO/IEC 18004 asks for


def _build(uri: str, level: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_LEVELS[level], box_size=box_size, border=QUIET_ZONE_MODULES)
    code.add_data(uri)
    code.make(fit=True)
    return code


def qr_png(uri: str, level: str = "M", box_size: int = 8) -> bytes:
    image = _build(uri, level, box_size).make_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(uri: str, level: str = "M", box_size: int = 10) -> str:
    image = _build(uri, level, box_size).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")
