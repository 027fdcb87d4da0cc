"""Tests for shop.payments.vietqr.

Wherever possible the checks use an oracle that does not share code with the
module: binascii.crc_hqx for the CRC, a separate mini TLV reader below for
the structure, and a payload published by an unrelated project.
"""

from __future__ import annotations

import binascii
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop.payments.vietqr import (
    BANK_BINS,
    VietQRError,
    build_vietqr_payload,
    crc16_ccitt_false,
    decode_vietqr,
    normalize_reference,
    parse_emv_tlv,
    verify_crc,
    vietqr_png,
    vietqr_svg,
)

VCB = "970436"


# --- independent oracles -------------------------------------------------------


def mini_tlv(data: str) -> dict[str, str]:
    """Deliberately naive one-level TLV reader, independent of the module."""
    out: dict[str, str] = {}
    i = 0
    while i < len(data):
        tag, size = data[i : i + 2], int(data[i + 2 : i + 4])
        value = data[i + 4 : i + 4 + size]
        assert len(value) == size, "truncated"
        assert tag not in out, "duplicate"
        out[tag] = value
        i += 4 + size
    return out


def mini_decode(payload: str) -> dict[str, str]:
    top = mini_tlv(payload)
    merchant = mini_tlv(top["38"])
    beneficiary = mini_tlv(merchant["01"])
    return {
        "format": top["00"],
        "initiation": top["01"],
        "guid": merchant["00"],
        "service": merchant["02"],
        "bin": beneficiary["00"],
        "account": beneficiary["01"],
        "currency": top["53"],
        "amount": top["54"],
        "country": top["58"],
        "reference": mini_tlv(top["62"])["08"],
        "crc": top["63"],
    }


def oracle_crc(payload_without_crc_value: str) -> str:
    # crc_hqx is poly 0x1021, non-reflected, no final xor; init 0xFFFF makes
    # it CRC-16/CCITT-FALSE.
    return f"{binascii.crc_hqx(payload_without_crc_value.encode(), 0xFFFF):04X}"


# --- CRC ----------------------------------------------------------------------


def test_crc_check_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_of_empty_input_is_init_value():
    assert crc16_ccitt_false(b"") == 0xFFFF


@given(st.binary(max_size=300))
def test_crc_matches_stdlib(data):
    assert crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


# --- building -----------------------------------------------------------------


def test_matches_payload_published_by_another_implementation():
    # From the README of github.com/subiz/vietqr (Go), same field layout.
    expected = (
        "00020101021238570010A00000072701270006970415011300110019324180208"
        "QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C"
    )
    assert build_vietqr_payload("970415", "0011001932418", 120000, "ủng hộ lũ lụt") == expected


def test_round_trip_through_module_parser():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "Đơn hàng 123")
    fields = parse_emv_tlv(payload)
    assert fields["00"] == "01"
    assert fields["01"] == "12"
    assert fields["38"] == {
        "00": "A000000727",
        "01": {"00": VCB, "01": "0123456789"},
        "02": "QRIBFTTA",
    }
    assert fields["53"] == "704"
    assert fields["54"] == "250000"
    assert fields["58"] == "VN"
    assert fields["62"] == {"08": "Don hang 123"}
    assert list(fields)[-1] == "63"


def test_round_trip_through_independent_parser():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "Đơn hàng 123")
    d = mini_decode(payload)
    assert d == {
        "format": "01",
        "initiation": "12",
        "guid": "A000000727",
        "service": "QRIBFTTA",
        "bin": VCB,
        "account": "0123456789",
        "currency": "704",
        "amount": "250000",
        "country": "VN",
        "reference": "Don hang 123",
        "crc": oracle_crc(payload[:-4]),
    }
    assert payload.endswith("6304" + d["crc"])


def test_crc_valid():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    assert verify_crc(payload)


def test_any_single_character_change_breaks_crc():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    for pos, original in enumerate(payload):
        for replacement in "0159AFZaz ":
            if replacement == original:
                continue
            mutated = payload[:pos] + replacement + payload[pos + 1 :]
            assert not verify_crc(mutated), (pos, replacement)


def test_lowercase_crc_rejected():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    lowered = payload[:-4] + payload[-4:].lower()
    assert lowered != payload  # this payload's CRC contains a letter
    assert not verify_crc(lowered)


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("Đơn hàng 123", "Don hang 123"),
        ("đặt rau củ quả", "dat rau cu qua"),
        ("Nguyễn Văn Ưu", "Nguyen Van Uu"),
        ("  Thanh toán   đơn #A-42! ", "Thanh toan don A 42"),
        ("DH001\tgiao\nnhanh", "DH001 giao nhanh"),
        ("Ｆｕｌｌｗｉｄｔｈ 9", "Fullwidth 9"),
        ("DH20240101 Rau cải xanh hữu cơ Đà Lạt", "DH20240101 Rau cai xanh h"),
    ],
)
def test_reference_normalization(raw, cleaned):
    assert normalize_reference(raw) == cleaned
    payload = build_vietqr_payload(VCB, "123", 1000, raw)
    assert mini_decode(payload)["reference"] == cleaned


def test_truncation_does_not_leave_trailing_space():
    # 24 chars then a space at position 25
    assert normalize_reference("A" * 24 + " BCD") == "A" * 24


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"bank_bin": "97043"}, "bank_bin"),
        ({"bank_bin": "9704366"}, "bank_bin"),
        ({"bank_bin": "97043a"}, "bank_bin"),
        ({"bank_bin": "٩٧٠٤٣٦"}, "bank_bin"),  # Arabic-Indic digits
        ({"bank_bin": 970436}, "bank_bin"),
        ({"account_number": ""}, "account_number"),
        ({"account_number": "1" * 20}, "account_number"),
        ({"account_number": "0123 456"}, "account_number"),
        ({"account_number": "0123-456"}, "account_number"),
        ({"account_number": "số123"}, "account_number"),
        ({"amount_vnd": 0}, "amount"),
        ({"amount_vnd": -5}, "amount"),
        ({"amount_vnd": True}, "amount"),
        ({"amount_vnd": 1000.0}, "amount"),
        ({"amount_vnd": "1000"}, "amount"),
        ({"amount_vnd": 10**13}, "amount"),
        ({"reference": ""}, "reference"),
        ({"reference": "  !!! ###  "}, "reference"),
        ({"reference": "漢字"}, "reference"),
        ({"reference": None}, "reference"),
    ],
)
def test_errors_name_the_field(kwargs, field):
    args = {"bank_bin": VCB, "account_number": "0123456789", "amount_vnd": 1000, "reference": "DH1"}
    args.update(kwargs)
    with pytest.raises(VietQRError) as info:
        build_vietqr_payload(**args)
    assert info.value.field == field
    assert info.value.message and info.value.message_vi


def test_limits_are_inclusive():
    payload = build_vietqr_payload(VCB, "A" * 19, 10**13 - 1, "x" * 25)
    d = mini_decode(payload)
    assert d["account"] == "A" * 19
    assert d["amount"] == "9999999999999"
    assert d["reference"] == "x" * 25
    assert verify_crc(payload)


# --- strict parsing -------------------------------------------------------------


def test_every_truncation_is_rejected_or_fails_crc():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    for cut in range(len(payload)):
        prefix = payload[:cut]
        try:
            parse_emv_tlv(prefix)
        except VietQRError as exc:
            assert exc.field == "payload"
        else:
            # A prefix can only parse if it ends exactly on a field boundary;
            # it then lacks the CRC and must not verify.
            assert not verify_crc(prefix)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "000",
        "0002010",  # value shorter than declared
        "0A0201",  # non-numeric ID
        "00X201",  # non-numeric length
        "0000",  # zero-length value
        "000201000201",  # duplicate ID
        "00020162040801",  # nested template truncated
    ],
)
def test_parser_rejects_malformed(bad):
    with pytest.raises(VietQRError) as info:
        parse_emv_tlv(bad)
    assert info.value.field == "payload"


def test_verify_crc_rejects_crc_not_last_field():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    assert not verify_crc(payload + "9902AB")


# --- decode / rendering / bank table ---------------------------------------------


def test_decode_vietqr():
    payload = build_vietqr_payload(BANK_BINS["AGRIBANK"].bin, "1500205123456", 87500, "Đơn 77")
    t = decode_vietqr(payload)
    assert (t.bank_bin, t.account_number, t.amount_vnd, t.reference) == (
        "970405",
        "1500205123456",
        87500,
        "Don 77",
    )
    with pytest.raises(VietQRError) as info:
        decode_vietqr(payload[:-1] + ("0" if payload[-1] != "0" else "1"))
    assert info.value.field == "payload"


def test_png_and_svg():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    png = vietqr_png(payload)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    bigger = vietqr_png(payload, box_size=16)
    assert len(bigger) != len(png)
    svg = vietqr_svg(payload)
    assert "<svg" in svg and "</svg>" in svg


def test_png_size_scales_with_box_size():
    import io

    from PIL import Image

    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    small = Image.open(io.BytesIO(vietqr_png(payload, box_size=4)))
    large = Image.open(io.BytesIO(vietqr_png(payload, box_size=8)))
    assert large.size == (small.size[0] * 2, small.size[1] * 2)


def test_rendering_refuses_invalid_payload():
    payload = build_vietqr_payload(VCB, "0123456789", 250000, "DH123")
    broken = payload.replace("DH123", "DH124")
    with pytest.raises(VietQRError):
        vietqr_png(broken)
    with pytest.raises(VietQRError):
        vietqr_svg(broken)


def test_bank_table():
    bins = [b.bin for b in BANK_BINS.values()]
    assert len(bins) == len(set(bins))
    assert BANK_BINS["VIETCOMBANK"].bin == "970436"
    assert BANK_BINS["BIDV"].bin == "970418"
    for bank in BANK_BINS.values():
        assert len(bank.bin) == 6 and bank.bin.isdigit()
        assert bank.name_vi.startswith("Ngân hàng")
        assert verify_crc(build_vietqr_payload(bank.bin, "123456", 1000, "test"))


# --- property-based -------------------------------------------------------------

ACCOUNT = st.text(string.ascii_letters + string.digits, min_size=1, max_size=19)
AMOUNT = st.integers(min_value=1, max_value=10**13 - 1)
BIN = st.sampled_from([b.bin for b in BANK_BINS.values()]) | st.from_regex(r"\A[0-9]{6}\Z")
# References that are already in canonical form must come back unchanged.
CLEAN_REFERENCE = st.lists(
    st.text(string.ascii_letters + string.digits, min_size=1, max_size=8), min_size=1, max_size=5
).map(" ".join).filter(lambda s: len(s) <= 25)


@settings(max_examples=300)
@given(bank_bin=BIN, account=ACCOUNT, amount=AMOUNT, reference=CLEAN_REFERENCE)
def test_property_round_trip(bank_bin, account, amount, reference):
    payload = build_vietqr_payload(bank_bin, account, amount, reference)
    assert verify_crc(payload)
    d = mini_decode(payload)
    assert (d["bin"], d["account"], int(d["amount"]), d["reference"]) == (
        bank_bin,
        account,
        amount,
        reference,
    )
    assert (d["currency"], d["country"]) == ("704", "VN")
    assert d["crc"] == oracle_crc(payload[:-4])
    t = decode_vietqr(payload)
    assert (t.bank_bin, t.account_number, t.amount_vnd, t.reference) == (
        bank_bin,
        account,
        amount,
        reference,
    )


@settings(max_examples=300)
@given(account=ACCOUNT, amount=AMOUNT, reference=st.text(max_size=60))
def test_property_arbitrary_reference(account, amount, reference):
    try:
        payload = build_vietqr_payload(VCB, account, amount, reference)
    except VietQRError as exc:
        assert exc.field == "reference"
        assert normalize_reference(reference) == ""
        return
    assert verify_crc(payload)
    ref = mini_decode(payload)["reference"]
    assert 1 <= len(ref) <= 25
    assert ref == ref.strip() and "  " not in ref
    assert all(c in string.ascii_letters + string.digits + " " for c in ref)
    assert parse_emv_tlv(payload)["62"] == {"08": ref}
