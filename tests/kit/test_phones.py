"""Tests for mannerly.kit.phones: parsing, validation, time zones and US states."""

from __future__ import annotations

import pytest

from mannerly.kit.phones import InvalidPhoneNumber, PhoneInfo, parse_phone

# (raw, default country, e164, country, time zones, subdivision, number type)
VALID_NUMBERS = [
    ("010-1234-5678", "KR", "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    ("+82 10 1234 5678", None, "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    ("+82 10 1234 5678", "ID", "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    # Korea dials abroad with 001/002, yet customers still write 0082.
    ("0082 10 1234 5678", "KR", "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    ("0082-10-1234-5678", None, "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    ("０１０-１２３４-５６７８", "kr", "+821012345678", "KR", ("Asia/Seoul",), None, "mobile"),
    ("02-312-3456", "KR", "+8223123456", "KR", ("Asia/Seoul",), None, "fixed_line"),
    # Indonesian mobile prefixes are nationwide: all three zones.
    ("0812-3456-7890", "ID", "+6281234567890", "ID",
     ("Asia/Jakarta", "Asia/Jayapura", "Asia/Makassar"), None, "mobile"),
    ("+62 852 1234 5678", None, "+6285212345678", "ID",
     ("Asia/Jakarta", "Asia/Jayapura", "Asia/Makassar"), None, "mobile"),
    # An Indonesian landline is geographic: Jakarta's area code is one zone.
    ("(021) 1234567", "ID", "+62211234567", "ID", ("Asia/Jakarta",), None, "fixed_line"),
    ("6912345678", "GR", "+306912345678", "GR", ("Europe/Athens",), None, "mobile"),
    ("+30 691 234 5678", None, "+306912345678", "GR", ("Europe/Athens",), None, "mobile"),
    ("0030 6912345678", "KR", "+306912345678", "GR", ("Europe/Athens",), None, "mobile"),
    ("210 123 4567", "GR", "+302101234567", "GR", ("Europe/Athens",), None, "fixed_line"),
    ("+1 305 555 1234", None, "+13055551234", "US", ("America/New_York",), "FL",
     "fixed_line_or_mobile"),
    ("(786) 555-1234", "US", "+17865551234", "US", ("America/New_York",), "FL",
     "fixed_line_or_mobile"),
    ("+1 415 555 1234", None, "+14155551234", "US", ("America/Los_Angeles",), "CA",
     "fixed_line_or_mobile"),
    ("+1 212 555 1234", None, "+12125551234", "US", ("America/New_York",), "NY",
     "fixed_line_or_mobile"),
    ("+1 907 555 1234", None, "+19075551234", "US", ("America/Adak", "America/Anchorage"), "AK",
     "fixed_line_or_mobile"),
    ("+1 604 555 1234", None, "+16045551234", "CA", ("America/Vancouver",), "BC",
     "fixed_line_or_mobile"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "default_country", "e164", "country", "zones", "subdivision", "number_type"),
    VALID_NUMBERS,
)
def test_valid_numbers(raw, default_country, e164, country, zones, subdivision, number_type):
    info = parse_phone(raw, default_country)
    assert info == PhoneInfo(
        e164=e164,
        country=country,
        time_zones=zones,
        subdivision=subdivision,
        number_type=number_type,
    )


# (raw, default country, expected reason)
INVALID_NUMBERS = [
    ("12", "KR", "too short for KR"),
    ("", "KR", "not a number"),
    ("   ", "US", "not a number"),
    ("abc", "KR", "not a number"),
    ("call me", None, "not a number"),
    ("010-CALL-ME", "KR", "not a number: it contains letters"),
    ("1-800-FLOWERS", "US", "not a number: it contains letters"),
    # A Korean national mobile number read as Indonesian.
    ("010-1234-5678", "ID", "not a valid number in ID"),
    ("+82 10 1234", None, "not a valid number in KR"),
    ("+62 812", None, "too short for ID"),
    ("010-1234-5678", None, "no country: give +countrycode or a default country"),
    ("+999 123 456", None, "unknown country calling code"),
    ("+1 555 123 4567", None, "not a valid number in US"),
]


@pytest.mark.parametrize(("raw", "default_country", "reason"), INVALID_NUMBERS)
def test_invalid_numbers(raw, default_country, reason):
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone(raw, default_country)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    assert reason in str(caught.value)


def test_time_zones_never_contain_unknown_placeholder():
    toll_free = parse_phone("+1 800 555 1234")
    assert toll_free.number_type == "toll_free"
    assert "Etc/Unknown" not in toll_free.time_zones
    # No area: every zone of the shared +1 plan, so the window holds everywhere.
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(toll_free.time_zones)
    assert toll_free.subdivision is None


def test_phone_info_is_immutable():
    info = parse_phone("+821012345678")
    with pytest.raises(AttributeError):
        info.e164 = "+1"  # type: ignore[misc]
