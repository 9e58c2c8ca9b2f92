"""Phone numbers: parse, validate and describe a recipient's number.

Pure: the only data used is what the `phonenumbers` package ships. The engine
needs three facts from a number: its E.164 form (the contact's identity), the
time zones the recipient may be in (quiet hours must hold in all of them) and,
for the US, the state (Florida has a stricter legal floor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult, geocoder, timezone

__all__ = ["InvalidPhoneNumber", "PhoneInfo", "parse_phone", "US_STATE_CODES", "CA_PROVINCE_CODES"]


class InvalidPhoneNumber(ValueError):
    """A string that is not a valid phone number; `reason` says why in plain words."""

    def __init__(self, raw: str, reason: str) -> None:
        """Keep the raw input and the plain-language reason."""
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


@dataclass(frozen=True)
class PhoneInfo:
    """What Mannerly knows about a valid phone number."""

    e164: str
    country: str  # ISO 3166-1 alpha-2
    time_zones: tuple[str, ...]  # IANA zones; the sending window must hold in all of them
    subdivision: str | None  # e.g. "FL"; only known for US and Canadian numbers
    number_type: str  # "mobile", "fixed_line", "fixed_line_or_mobile", "voip", ...


_NUMBER_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

# Countries whose mobile prefixes are issued nationwide: the prefix says
# nothing about where the subscriber lives, although phonenumbers maps most
# Indonesian mobile prefixes to Asia/Jakarta only. A Telkomsel customer in
# Jayapura is two hours ahead of Jakarta, so we use every zone of the country.
NATIONWIDE_MOBILE_COUNTRIES: frozenset[str] = frozenset({"ID"})

US_STATE_CODES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "Washington D.C.": "DC", "District of Columbia": "DC",
}  # fmt: skip

CA_PROVINCE_CODES: dict[str, str] = {
    "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Ontario": "ON",
    "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK",
    "Northwest Territories": "NT", "Nunavut": "NU", "Yukon": "YT",
}  # fmt: skip

_SUBDIVISION_TABLES: dict[str, dict[str, str]] = {"US": US_STATE_CODES, "CA": CA_PROVINCE_CODES}

# "Miami, FL" -> "FL": the geocoder names a city followed by the state code.
_TRAILING_CODE = re.compile(r",\s*([A-Z]{2})$")

_UNKNOWN_ZONE = "Etc/Unknown"


def parse_phone(raw: str, default_country: str | None = None) -> PhoneInfo:
    """Parse a national or international number into a PhoneInfo, or raise InvalidPhoneNumber."""
    text = (raw or "").strip()
    country = default_country.upper() if default_country else None
    if not text or not any(ch.isdigit() for ch in text):
        raise InvalidPhoneNumber(raw, "not a number")
    # phonenumbers reads letters as a keypad ("1-800-FLOWERS"); a customer's
    # number in a contact list never contains letters, so they mean a typo.
    if any(ch.isalpha() for ch in text):
        raise InvalidPhoneNumber(raw, "not a number: it contains letters")
    number = _parse_with_international_fallback(raw, text, country)
    region = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw, _invalid_reason(number))
    type_name = _NUMBER_TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")
    return PhoneInfo(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country=region,
        time_zones=_time_zones(number, region, type_name),
        subdivision=_subdivision(number, region),
        number_type=type_name,
    )


def _parse_with_international_fallback(
    raw: str, text: str, country: str | None
) -> phonenumbers.PhoneNumber:
    """Parse the text; retry "00<code>…" as "+<code>…" when the default country dials abroad differently."""
    number: phonenumbers.PhoneNumber | None = None
    first_error: InvalidPhoneNumber | None = None
    try:
        number = _parse_once(raw, text, country)
    except InvalidPhoneNumber as error:
        first_error = error
    # Korea dials abroad with 001/002/00700, so phonenumbers does not read
    # "0082…" as international there; but no national number starts with 00
    # in our countries, so the common "00" international form is safe to try.
    if text.startswith("00") and (number is None or not phonenumbers.is_valid_number(number)):
        try:
            retried = _parse_once(raw, "+" + text[2:], None)
            if number is None or phonenumbers.is_valid_number(retried):
                return retried
        except InvalidPhoneNumber:
            pass
    if number is None:
        assert first_error is not None
        raise first_error
    return number


def _parse_once(raw: str, text: str, country: str | None) -> phonenumbers.PhoneNumber:
    """Call phonenumbers.parse and turn its exception into InvalidPhoneNumber."""
    try:
        return phonenumbers.parse(text, country)
    except NumberParseException as error:
        raise InvalidPhoneNumber(raw, _parse_error_reason(error, text, country)) from None


def _parse_error_reason(error: NumberParseException, text: str, country: str | None) -> str:
    """Plain-language reason for a phonenumbers parse failure."""
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        if text.startswith("+"):
            return "unknown country calling code"
        if country is None:
            return "no country: give +countrycode or a default country"
        return f"unknown default country {country}"
    if kind == NumberParseException.NOT_A_NUMBER:
        return "not a number"
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return f"too short for {country}" if country else "too short"
    if kind == NumberParseException.TOO_LONG:
        return "too long"
    return str(error)


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    """Plain-language reason why a parsed number is not valid."""
    # Name the country the number was read as, which may differ from the
    # default country when the number was written with +code.
    main_region = phonenumbers.region_code_for_country_code(number.country_code)
    where = main_region if main_region != "ZZ" else f"+{number.country_code}"
    check = phonenumbers.is_possible_number_with_reason(number)
    if check == ValidationResult.TOO_SHORT:
        return f"too short for {where}"
    if check == ValidationResult.TOO_LONG:
        return f"too long for {where}"
    if check == ValidationResult.INVALID_COUNTRY_CODE:
        return "unknown country calling code"
    return f"not a valid number in {where}"


def _time_zones(number: phonenumbers.PhoneNumber, region: str, type_name: str) -> tuple[str, ...]:
    """Every IANA zone the recipient may be in, sorted; the country's zones when the number says nothing."""
    # phonenumbers has no public "zones of a country"; its country-level
    # lookup (zones for the bare calling code) is the closest, and for
    # shared codes such as +1 it errs on the wide, safe side.
    country_zones = tuple(
        zone for zone in timezone._country_level_time_zones_for_number(number) if zone != _UNKNOWN_ZONE
    )
    if region in NATIONWIDE_MOBILE_COUNTRIES and type_name in ("mobile", "fixed_line_or_mobile"):
        return tuple(sorted(country_zones))
    zones = tuple(zone for zone in timezone.time_zones_for_number(number) if zone != _UNKNOWN_ZONE)
    return tuple(sorted(zones or country_zones))


def _subdivision(number: phonenumbers.PhoneNumber, region: str) -> str | None:
    """The state or province code from the area code (US and Canada), else None."""
    table = _SUBDIVISION_TABLES.get(region)
    if table is None:
        return None
    description = geocoder.description_for_number(number, "en").strip()
    if description in table:
        return table[description]
    match = _TRAILING_CODE.search(description)
    if match and match.group(1) in table.values():
        return match.group(1)
    return None
