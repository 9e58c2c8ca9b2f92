"""Properties of decide() that must hold for every input, checked with hypothesis."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mannerly.policy.engine import decide
from mannerly.policy.types import (
    Action,
    ConsentStatus,
    ContactState,
    Policy,
    SendRequest,
    Source,
    Topic,
    TopicKind,
)

ZONES_BY_COUNTRY = {
    "KR": [("Asia/Seoul",)],
    "ID": [("Asia/Jakarta",), ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")],
    "GR": [("Europe/Athens",)],
    "US": [("America/New_York",), ("America/Chicago", "America/Denver"), ("America/Los_Angeles",)],
}
QUARTER = timedelta(minutes=15)

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def scenarios(draw):
    """A contact, a request and a policy with nothing but the clock and the calendar in the way."""
    country = draw(st.sampled_from(sorted(ZONES_BY_COUNTRY)))
    zones = draw(st.sampled_from(ZONES_BY_COUNTRY[country]))
    kind = draw(st.sampled_from(list(TopicKind)))
    start_hour = draw(st.integers(6, 12))
    end_hour = draw(st.integers(14, 23))
    workdays = draw(st.one_of(st.none(), st.frozensets(st.integers(0, 6), min_size=1)))
    contact = ContactState(
        country=country,
        subdivision=draw(st.sampled_from([None, "FL"])) if country == "US" else None,
        time_zones=zones,
        consents={"promotions": ConsentStatus.OPTED_IN},
        night_marketing_consent=draw(st.booleans()),
        prior_relationship=True,
    )
    request = SendRequest(
        text="Acme: your order has shipped. Reply STOP to opt out.",
        topic=Topic("promotions" if kind is TopicKind.MARKETING else "orders", kind),
    )
    policy = Policy(
        window_start=time(start_hour, draw(st.sampled_from([0, 30]))),
        window_end=time(end_hour, draw(st.sampled_from([0, 30]))),
        workdays=workdays,
        brand_names={"en": "Acme"},
    )
    return contact, request, policy


def allowed_by_oracle(moment: datetime, contact: ContactState, request: SendRequest, policy: Policy) -> bool:
    """An independent statement of the rules: is this UTC moment allowed in every zone?"""
    for zone_name in contact.time_zones:
        local = moment.astimezone(ZoneInfo(zone_name))
        calendar = holidays.country_holidays(contact.country, years=local.year)
        workdays = policy.workdays if policy.workdays is not None else {0, 1, 2, 3, 4}
        if local.weekday() not in workdays or local.date() in calendar:
            return False
        clock = local.time().replace(tzinfo=None)
        if not (policy.window_start <= clock < policy.window_end):
            return False
        if request.topic.kind is TopicKind.MARKETING:
            if contact.country == "US":
                end = time(20) if contact.subdivision == "FL" else time(21)
                if not (time(8) <= clock < end):
                    return False
            if contact.country == "KR" and not contact.night_marketing_consent:
                if not (time(8) <= clock < time(21)):
                    return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), now=moments)
def test_deferred_send_at_is_inside_and_earliest(scenario, now):
    """A deferred message goes at an allowed moment, and no earlier moment was allowed."""
    contact, request, policy = scenario
    decision = decide(request, contact, policy, now)
    if decision.action is Action.REJECT:
        # Only possible when no moment fits within the horizon (e.g. no workday at all).
        assert any(reason.rule == "schedule" for reason in decision.reasons)
        return
    assert decision.send_at is not None
    assert allowed_by_oracle(decision.send_at, contact, request, policy)
    if decision.action is Action.SEND:
        assert decision.send_at == now
        return
    assert not allowed_by_oracle(now, contact, request, policy)
    # Allowed moments start and end on UTC quarter-hours (whole-minute windows,
    # zone offsets in quarter-hours), so checking those boundaries is exhaustive.
    probe = now.replace(minute=(now.minute // 15) * 15, second=0, microsecond=0) + QUARTER
    while probe < decision.send_at:
        assert not allowed_by_oracle(probe, contact, request, policy), probe
        probe += QUARTER


@st.composite
def unwelcome_contacts(draw):
    """A contact who must never get marketing: opted out somewhere, or cold."""
    flaw = draw(st.sampled_from(["global_opt_out", "topic_opt_out", "no_opt_in", "cold"]))
    consents = {"promotions": ConsentStatus.OPTED_IN}
    if flaw == "topic_opt_out":
        consents = {"promotions": ConsentStatus.OPTED_OUT}
    elif flaw == "no_opt_in":
        consents = {}
    return ContactState(
        country=draw(st.sampled_from(sorted(ZONES_BY_COUNTRY))),
        time_zones=("UTC",),
        global_opt_out=flaw == "global_opt_out",
        consents=consents,
        prior_relationship=flaw != "cold",
        last_inbound_at=None,
        night_marketing_consent=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(
    contact=unwelcome_contacts(),
    now=moments,
    source=st.sampled_from([s for s in Source if s is not Source.KEYWORD_REPLY]),
    urgent=st.booleans(),
    reply=st.booleans(),
    text=st.text(min_size=1, max_size=200),
)
def test_no_marketing_to_opted_out_or_cold_contacts(contact, now, source, urgent, reply, text):
    """Whatever the text, source or timing, marketing to such a contact is rejected."""
    request = SendRequest(
        text=text, topic=Topic("promotions", TopicKind.MARKETING, urgent=urgent), source=source, reply=reply
    )
    decision = decide(request, contact, Policy(brand_names={"en": "Acme"}), now)
    assert decision.action is Action.REJECT
