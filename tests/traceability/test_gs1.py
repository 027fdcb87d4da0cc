"""Tests for traceability.gs1 (GTIN, lot/serial, GS1 Digital Link).

Expected check digits below were worked out by hand from the GS1 mod-10
rule and cross-checked with a separate implementation, not copied from the
code under test.  Where a property test needs an oracle it uses a different
formulation of the rule (weights applied to the full 14 digits, sum must be
a multiple of 10) so a bug in the module cannot confirm itself.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from traceability.gs1 import (
    CHARSET_82,
    DigitalLink,
    GS1Error,
    gtin_check_digit,
    is_valid_gtin,
    make_gtin14,
    normalize_gtin,
    parse_digital_link_path,
    parse_digital_link_uri,
    validate_lot,
    validate_serial,
)

# Written out independently of the module's constant so a typo there shows up.
SET_82 = string.digits + string.ascii_letters + "!\"%&'()*+,-./:;<=>?_"
SYMBOLS_82 = "!\"%&'()*+,-./:;<=>?_"
BASE = "https://id.nongsan.vn"
G14 = "08934588012112"  # Vietnamese (893) GTIN-13 8934588012112, padded


def _full_weight_ok(gtin14: str) -> bool:
    """Oracle: with weights 3,1,3,...,1 from the left over all 14 digits
    (check digit weight 1), a valid GTIN-14 sums to a multiple of 10."""
    return sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(gtin14)) % 10 == 0


# ----------------------------------------------------------------- strategies

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def gtin14s(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=13, max_size=13))
    for check in "0123456789":
        if _full_weight_ok(body + check):
            return body + check
    raise AssertionError("unreachable: exactly one check digit fits")


@st.composite
def any_length_gtins(draw: st.DrawFn) -> str:
    """A valid GTIN-8/12/13/14 (shorter forms are the 14-digit form minus
    leading zeros, which is exactly how GS1 defines them)."""
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    for check in "0123456789":
        if _full_weight_ok((body + check).zfill(14)):
            return body + check
    raise AssertionError("unreachable: exactly one check digit fits")


ai_values = st.text(alphabet=SET_82, min_size=1, max_size=20)
outside_82 = st.characters().filter(lambda c: c not in SET_82)


# ----------------------------------------------------------------- GS1Error


def test_gs1error_is_value_error_with_fields() -> None:
    with pytest.raises(ValueError) as info:
        normalize_gtin("123")
    err = info.value
    assert isinstance(err, GS1Error)
    assert err.field == "gtin"
    assert str(err) == err.message
    assert err.message_vi and err.message_vi != err.message
    assert err.as_dict() == {"error": err.message, "field": "gtin"}
    assert err.as_dict("vi") == {"error": err.message_vi, "field": "gtin"}


def test_vietnamese_message_has_diacritics() -> None:
    with pytest.raises(GS1Error) as info:
        normalize_gtin("4006381333932")
    assert "kiểm tra" in info.value.message_vi


# ----------------------------------------------------------------- check digit


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("0950600013435", 2),  # GS1 example GTIN 09506000134352
        ("400638133393", 1),  # EAN-13 4006381333931
        ("893458801211", 2),  # Vietnam prefix 893 -> 8934588012112
        ("9638507", 4),  # EAN-8 96385074
        ("03600029145", 2),  # UPC-A 036000291452
        ("000000000000", 0),
    ],
)
def test_check_digit_known_values(body: str, expected: int) -> None:
    assert gtin_check_digit(body) == expected


@pytest.mark.parametrize("body", ["", "12a4", "12 34", "１２３", "²", "٣٣"])
def test_check_digit_rejects_non_ascii_digits(body: str) -> None:
    with pytest.raises(GS1Error) as info:
        gtin_check_digit(body)
    assert info.value.field == "gtin"


@given(gtin14s())
def test_check_digit_agrees_with_full_weight_oracle(gtin: str) -> None:
    assert gtin_check_digit(gtin[:-1]) == int(gtin[-1])


@given(st.text(alphabet="0123456789", min_size=1, max_size=17))
def test_check_digit_unchanged_by_leading_zeros(body: str) -> None:
    assert gtin_check_digit("0" + body) == gtin_check_digit(body)


# ----------------------------------------------------------------- GTIN


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("09506000134352", "09506000134352"),
        ("4006381333931", "04006381333931"),
        ("8934588012112", G14),
        ("036000291452", "00036000291452"),
        ("96385074", "00000096385074"),
    ],
)
def test_normalize_gtin_pads_to_14(code: str, expected: str) -> None:
    assert normalize_gtin(code) == expected
    assert is_valid_gtin(code)


@pytest.mark.parametrize(
    "code",
    [
        "4006381333932",  # wrong check digit
        "8934588012113",
        "09506000134353",
        "400638133393",  # 12 digits, check digit of the 13-digit form missing
        "1234567",  # 7 digits
        "123456789",  # 9 digits
        # Lengths outside the GTIN family even though the mod-10 check passes:
        "123456784",  # 9
        "1234567895",  # 10
        "12345678905",  # 11
        "893458801211231",  # 15
        "0" * 15,
        "",
        "40063813339 1",
        " 4006381333931",
        "4006381333931\n",
        "４００６３８１３３３９３１",  # full-width digits
        "400638133393١",  # Arabic-Indic one
    ],
)
def test_normalize_gtin_rejects(code: str) -> None:
    with pytest.raises(GS1Error) as info:
        normalize_gtin(code)
    assert info.value.field == "gtin"
    assert not is_valid_gtin(code)


@pytest.mark.parametrize("value", [4006381333931, None, b"4006381333931"])
def test_gtin_must_be_str(value: object) -> None:
    assert not is_valid_gtin(value)
    with pytest.raises(GS1Error):
        normalize_gtin(value)  # type: ignore[arg-type]


def test_bad_check_digit_message_names_expected_digit() -> None:
    with pytest.raises(GS1Error) as info:
        normalize_gtin("4006381333937")
    assert "expected 1" in info.value.message


@given(any_length_gtins())
def test_valid_gtins_normalise_to_same_number(code: str) -> None:
    normalized = normalize_gtin(code)
    assert len(normalized) == 14
    assert normalized.endswith(code)
    assert int(normalized) == int(code)
    assert normalize_gtin(normalized) == normalized
    assert _full_weight_ok(normalized)


@given(gtin14s(), st.integers(min_value=0, max_value=13), digits)
def test_single_digit_change_is_detected(gtin: str, position: int, digit: str) -> None:
    assume(gtin[position] != digit)
    mutated = gtin[:position] + digit + gtin[position + 1 :]
    assert not is_valid_gtin(mutated)
    with pytest.raises(GS1Error):
        normalize_gtin(mutated)


@given(st.text(max_size=16))
def test_is_valid_gtin_never_raises_and_matches_oracle(code: str) -> None:
    expected = (
        len(code) in (8, 12, 13, 14)
        and all(c in "0123456789" for c in code)
        and _full_weight_ok(code.zfill(14))
    )
    assert is_valid_gtin(code) is expected


# ----------------------------------------------------------------- make_gtin14


def test_make_gtin14_known_value() -> None:
    assert make_gtin14("893458", 801211) == G14
    assert make_gtin14("893458", 801211, indicator=1) == "18934588012119"
    assert make_gtin14("9506000", 13435) == "09506000134352"


def test_make_gtin14_pads_item_reference() -> None:
    assert make_gtin14("8934588", 7) == "08934588000072"


def test_make_gtin14_twelve_digit_prefix() -> None:
    assert make_gtin14("893458801211", 0) == G14
    with pytest.raises(GS1Error) as info:
        make_gtin14("893458801211", 1)
    assert info.value.field == "item_reference"


@pytest.mark.parametrize(
    ("prefix", "item", "indicator", "field"),
    [
        ("893458", 1_000_000, 0, "item_reference"),  # 7 digits into 6
        ("8934588012", 100, 0, "item_reference"),  # 3 digits into 2
        ("893458", -1, 0, "item_reference"),
        ("893458", True, 0, "item_reference"),
        ("89345", 1, 0, "company_prefix"),  # 5 digits
        ("8934588012112", 0, 0, "company_prefix"),  # 13 digits
        ("89345A", 1, 0, "company_prefix"),
        ("893458", 1, 10, "indicator"),
        ("893458", 1, -1, "indicator"),
    ],
)
def test_make_gtin14_rejects(prefix: str, item: int, indicator: int, field: str) -> None:
    with pytest.raises(GS1Error) as info:
        make_gtin14(prefix, item, indicator)
    assert info.value.field == field


@st.composite
def gtin_parts(draw: st.DrawFn) -> tuple[str, int, int]:
    prefix = draw(st.text(alphabet="0123456789", min_size=6, max_size=12))
    item = draw(st.integers(min_value=0, max_value=10 ** (12 - len(prefix)) - 1))
    indicator = draw(st.integers(min_value=0, max_value=9))
    return prefix, item, indicator


@given(gtin_parts())
def test_make_gtin14_round_trip(parts: tuple[str, int, int]) -> None:
    prefix, item, indicator = parts
    gtin = make_gtin14(prefix, item, indicator)
    assert len(gtin) == 14
    assert normalize_gtin(gtin) == gtin
    assert _full_weight_ok(gtin)
    assert gtin[0] == str(indicator)
    assert gtin[1 : 1 + len(prefix)] == prefix
    reference = gtin[1 + len(prefix) : 13]
    assert int(reference or "0") == item


# ----------------------------------------------------------------- lot / serial


def test_charset_82_matches_spec() -> None:
    assert CHARSET_82 == frozenset(SET_82)
    assert len(CHARSET_82) == 82


@pytest.mark.parametrize("check", [validate_lot, validate_serial])
def test_lot_serial_accept_boundaries(check) -> None:  # type: ignore[no-untyped-def]
    assert check("A") == "A"
    assert check("x" * 20) == "x" * 20
    assert check(SYMBOLS_82) == SYMBOLS_82


@pytest.mark.parametrize(
    ("check", "field"), [(validate_lot, "lot"), (validate_serial, "serial")]
)
@pytest.mark.parametrize(
    "value", ["", "x" * 21, "LÔ-1", "A B", "A#1", "A~1", "A@1", "A\n", "[1]", None, 12]
)
def test_lot_serial_reject(check, field: str, value: object) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GS1Error) as info:
        check(value)
    assert info.value.field == field


@given(ai_values)
def test_any_set82_lot_is_accepted(lot: str) -> None:
    assert validate_lot(lot) == lot


@given(
    st.text(alphabet=SET_82, max_size=9),
    outside_82,
    st.text(alphabet=SET_82, max_size=10),
)
def test_lot_with_char_outside_set82_is_rejected(head: str, bad: str, tail: str) -> None:
    lot = head + bad + tail  # at most 20 characters, so only the char is wrong
    with pytest.raises(GS1Error) as info:
        validate_lot(lot)
    assert info.value.field == "lot"
    assert f"position {len(head) + 1}" in info.value.message
    # The same value arriving through a URL is rejected the same way.
    with pytest.raises(GS1Error) as info:
        DigitalLink(G14, lot=lot)
    assert info.value.field == "lot"
    with pytest.raises(GS1Error) as info:
        parse_digital_link_path(f"/01/{G14}/10/" + _quote(lot))
    assert info.value.field == "lot"


def _quote(value: str) -> str:
    """Independent percent-encoder (UTF-8, every non-unreserved byte)."""
    unreserved = set(string.ascii_letters + string.digits + "-._~")
    return "".join(
        chr(b) if chr(b) in unreserved else f"%{b:02X}" for b in value.encode("utf-8")
    )


# ----------------------------------------------------------------- DigitalLink


def test_digital_link_normalises_gtin() -> None:
    assert DigitalLink("8934588012112").gtin == G14
    assert DigitalLink("8934588012112") == DigitalLink(G14)


def test_digital_link_is_frozen() -> None:
    link = DigitalLink(G14)
    with pytest.raises(AttributeError):
        link.gtin = "09506000134352"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"gtin": "8934588012113"}, "gtin"),
        ({"gtin": G14, "lot": ""}, "lot"),
        ({"gtin": G14, "serial": "x" * 21}, "serial"),
        ({"gtin": G14, "serial": "số 1"}, "serial"),
    ],
)
def test_digital_link_validates(kwargs: dict, field: str) -> None:
    with pytest.raises(GS1Error) as info:
        DigitalLink(**kwargs)
    assert info.value.field == field


def test_path_and_element_string() -> None:
    link = DigitalLink("09506000134352", lot="ABC123", serial="12345")
    assert link.path == "/01/09506000134352/10/ABC123/21/12345"
    assert link.element_string == "(01)09506000134352(10)ABC123(21)12345"
    assert DigitalLink(G14).path == f"/01/{G14}"
    assert DigitalLink(G14).element_string == f"(01){G14}"
    assert DigitalLink(G14, serial="S1").path == f"/01/{G14}/21/S1"
    assert DigitalLink(G14, serial="S1").element_string == f"(01){G14}(21)S1"


def test_path_percent_encodes_everything_but_unreserved() -> None:
    link = DigitalLink(G14, lot="LO-2024/07", serial=SYMBOLS_82)
    assert link.path == (
        f"/01/{G14}/10/LO-2024%2F07"
        "/21/%21%22%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F_"
    )
    assert link.element_string == f"(01){G14}(10)LO-2024/07(21){SYMBOLS_82}"


@pytest.mark.parametrize(
    "base", [BASE, BASE + "/", BASE + "//", "http://id.nongsan.vn"]
)
def test_uri_joins_without_double_slash(base: str) -> None:
    uri = DigitalLink(G14, lot="L1").uri(base)
    assert uri == base.rstrip("/") + f"/01/{G14}/10/L1"
    assert "//01/" not in uri


def test_uri_keeps_base_path_prefix() -> None:
    assert DigitalLink(G14).uri(BASE + "/dl/") == f"{BASE}/dl/01/{G14}"


@pytest.mark.parametrize(
    "base",
    ["", "id.nongsan.vn", "ftp://id.nongsan.vn", "https://", f"{BASE}?x=1", f"{BASE}#a",
     f"{BASE}?", "https://id.nongsan.vn /", "https://[::1"],
)
def test_uri_rejects_bad_base(base: str) -> None:
    with pytest.raises(GS1Error) as info:
        DigitalLink(G14).uri(base)
    assert info.value.field == "base_url"


# ----------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/01/{G14}", DigitalLink(G14)),
        (f"/01/{G14}/", DigitalLink(G14)),
        ("/01/8934588012112", DigitalLink(G14)),  # GTIN-13
        ("/01/96385074/10/A1", DigitalLink("00000096385074", lot="A1")),  # GTIN-8
        ("/01/036000291452/21/S", DigitalLink("00036000291452", serial="S")),  # GTIN-12
        (f"/01/{G14}/21/S-1/", DigitalLink(G14, serial="S-1")),  # serial w/o lot
        (f"/01/{G14}/10/L/21/S", DigitalLink(G14, lot="L", serial="S")),
        (f"/01/{G14}/10/AB%2F1%25", DigitalLink(G14, lot="AB/1%")),
        (f"/01/{G14}/10/ab%2f1", DigitalLink(G14, lot="ab/1")),  # lowercase hex
        (f"/01/{G14}/10/A!B*(C)", DigitalLink(G14, lot="A!B*(C)")),  # raw sub-delims
        (f"/01/{G14}/10/%41%42", DigitalLink(G14, lot="AB")),
        (f"/01/{G14}/10/{'x' * 20}", DigitalLink(G14, lot="x" * 20)),
    ],
)
def test_parse_path_accepts(path: str, expected: DigitalLink) -> None:
    result = parse_digital_link_path(path)
    assert result == expected
    assert len(result.gtin) == 14


@pytest.mark.parametrize(
    ("path", "field", "fragment"),
    [
        (f"/01/{G14}/21/S/10/L", "path", "before"),  # wrong order
        (f"/01/{G14}/10/L/10/M", "path", "more than once"),
        (f"/01/{G14}/21/S/21/T", "path", "more than once"),
        (f"/01/{G14}/01/{G14}", "path", "only once"),
        (f"/01/{G14}/22/V1", "path", "Unsupported"),  # valid in GS1 DL, not here
        (f"/01/{G14}/99/x", "path", "Unsupported"),
        (f"/01/{G14}/lot/L", "path", "Unsupported"),
        (f"/01/{G14}/%31%30/L", "path", "Unsupported"),  # AIs are literal
        (f"/gtin/{G14}", "path", "/01/"),  # convenience alphas not accepted
        (f"01/{G14}", "path", "/01/"),
        (f"/shop/01/{G14}", "path", "/01/"),
        (f"/1/{G14}", "path", "/01/"),
        ("", "path", "/01/"),
        (f"/01/{G14}//", "path", "empty segment"),
        (f"//01/{G14}", "path", "/01/"),
        (f"/01/{G14}/10//21/S", "path", "empty segment"),
        (f"/01/{G14}?linkType=all", "path", "?"),
        (f"/01/{G14}#x", "path", "#"),
        ("/01/", "gtin", "no value"),
        (f"/01/{G14}/10", "lot", "no value"),
        (f"/01/{G14}/10/L/21/", "serial", "no value"),
        ("/01/8934588012113", "gtin", "check digit"),
        ("/01/893458801211", "gtin", "check digit"),  # 12 digits, bad check
        ("/01/089345880121120", "gtin", "digits"),
        (f"/01/{G14[:-1]}%33", "gtin", "check digit"),  # encoded, still checked
        ("/01/8934588O12112", "gtin", "digits"),
        (f"/01/{G14}/10/{'x' * 21}", "lot", "1 to 20"),
        (f"/01/{G14}/10/{'%41' * 21}", "lot", "1 to 20"),  # length after decoding
        (f"/01/{G14}/21/{'y' * 21}", "serial", "1 to 20"),
        (f"/01/{G14}/10/A%20B", "lot", "character"),
        (f"/01/{G14}/10/A B", "lot", "character"),
        (f"/01/{G14}/10/L%C3%94", "lot", "character"),  # "LÔ"
        (f"/01/{G14}/10/L%FF", "lot", "character"),  # not UTF-8
        (f"/01/{G14}/10/LÔ", "lot", "character"),
        (f"/01/{G14}/21/a~b", "serial", "character"),
        (f"/01/{G14}/10/%G1", "lot", "percent"),
        (f"/01/{G14}/10/50%", "lot", "percent"),
        (f"/01/{G14}/21/%2", "serial", "percent"),
    ],
)
def test_parse_path_rejects(path: str, field: str, fragment: str) -> None:
    with pytest.raises(GS1Error) as info:
        parse_digital_link_path(path)
    assert info.value.field == field
    assert fragment in info.value.message
    assert info.value.message_vi


def test_encoded_digit_in_gtin_is_decoded() -> None:
    # RFC 3986: %32 and "2" are equivalent, so this must be the same GTIN.
    assert parse_digital_link_path(f"/01/{G14[:-1]}%32").gtin == G14


def test_error_message_does_not_echo_huge_input() -> None:
    with pytest.raises(GS1Error) as info:
        parse_digital_link_path("/x" + "A" * 10_000)
    assert len(info.value.message) < 200


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"{BASE}/01/{G14}", DigitalLink(G14)),
        (f"{BASE}/01/{G14}/10/L1?linkType=gs1:pip", DigitalLink(G14, lot="L1")),
        (f"http://example.com:8080/01/{G14}/21/S%2F1#frag", DigitalLink(G14, serial="S/1")),
        (f"HTTPS://ID.NONGSAN.VN/01/{G14}/", DigitalLink(G14)),
    ],
)
def test_parse_uri_accepts(uri: str, expected: DigitalLink) -> None:
    assert parse_digital_link_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "field"),
    [
        (f"ftp://id.nongsan.vn/01/{G14}", "uri"),
        (f"/01/{G14}", "uri"),
        (f"https:///01/{G14}", "uri"),
        (f"{BASE}/01/{G14}/10/A\tB", "uri"),  # urlsplit would drop the tab
        (f" {BASE}/01/{G14}", "uri"),
        (f"https://[::1/01/{G14}", "uri"),
        (BASE, "path"),
        (f"{BASE}/dl/01/{G14}", "path"),
        (f"{BASE}/01/{G14}/21/S/10/L", "path"),
        (f"{BASE}/01/8934588012113", "gtin"),
    ],
)
def test_parse_uri_rejects(uri: str, field: str) -> None:
    with pytest.raises(GS1Error) as info:
        parse_digital_link_uri(uri)
    assert info.value.field == field


# ----------------------------------------------------------------- round trips


@given(any_length_gtins(), st.none() | ai_values, st.none() | ai_values)
def test_parse_of_build_is_identity(gtin: str, lot: str | None, serial: str | None) -> None:
    link = DigitalLink(gtin, lot=lot, serial=serial)
    assert (link.gtin, link.lot, link.serial) == (normalize_gtin(gtin), lot, serial)
    # Cross-check the encoder against an independent one.
    expected_path = f"/01/{normalize_gtin(gtin)}"
    if lot is not None:
        expected_path += "/10/" + _quote(lot)
    if serial is not None:
        expected_path += "/21/" + _quote(serial)
    assert link.path == expected_path
    assert parse_digital_link_path(link.path) == link
    assert parse_digital_link_path(link.path + "/") == link
    assert parse_digital_link_uri(link.uri(BASE + "/")) == link
    assert parse_digital_link_uri(link.uri(BASE) + "?linkType=all") == link


@given(any_length_gtins(), ai_values, ai_values)
def test_swapped_qualifiers_are_rejected(gtin: str, lot: str, serial: str) -> None:
    path = f"/01/{gtin}/21/{_quote(serial)}/10/{_quote(lot)}"
    with pytest.raises(GS1Error) as info:
        parse_digital_link_path(path)
    assert info.value.field == "path"


@given(
    any_length_gtins(),
    st.text(alphabet="0123456789", min_size=1, max_size=4).filter(
        lambda ai: ai not in ("10", "21")
    ),
    ai_values,
)
def test_unknown_ai_is_rejected(gtin: str, ai: str, value: str) -> None:
    with pytest.raises(GS1Error) as info:
        parse_digital_link_path(f"/01/{gtin}/{ai}/{_quote(value)}")
    assert info.value.field == "path"
