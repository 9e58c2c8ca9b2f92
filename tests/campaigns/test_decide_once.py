"""DecisionCache.decide_once: the same decisions as decide() itself, each distinct input decided once."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mannerly.campaigns.planner import DecisionCache
from mannerly.policy import engine
from mannerly.policy.engine import decide
from mannerly.policy.types import (
    ConsentStatus,
    ContactState,
    Policy,
    SendRequest,
    SentRecord,
    Source,
    Topic,
    TopicKind,
)

# Tuesday 4 March 2025 01:00 UTC (10:00 Seoul), a Saturday night in Athens, and Chuseok morning in Seoul.
MOMENTS = [datetime(2025, 3, 4, 1, 0, tzinfo=UTC), datetime(2025, 3, 8, 21, 30, tzinfo=UTC),
           datetime(2025, 10, 6, 1, 0, tzinfo=UTC)]
PROMOTIONS = Topic(name="promotions", kind=TopicKind.MARKETING)
ORDERS = Topic(name="orders", kind=TopicKind.TRANSACTIONAL)
TEXTS = ["민준님, 봄 세일 20% 할인: https://go.acme.test/l/xxxxxxxxxx",
         "Halo Budi, diskon 20% di https://go.acme.test/l/xxxxxxxxxx",
         "Γεια σου Νίκο, έκπτωση 20% στο https://go.acme.test/l/xxxxxxxxxx",
         "Hi [First Name], SALE SALE SALE!!! send us your password"]
PLACES = [("KR", None, ("Asia/Seoul",), "ko"), ("ID", None, ("Asia/Jakarta", "Asia/Makassar"), "id"),
          ("GR", None, ("Europe/Athens",), "el"), ("US", "FL", ("America/New_York",), "en")]


def varied_inputs(count: int, seed: int = 3) -> list[tuple[SendRequest, ContactState, datetime]]:
    """Requests and states that vary in every field the engine reads, drawn from small pools so they repeat."""
    rng = random.Random(seed)
    inputs = []
    for index in range(count):
        country, subdivision, zones, language = rng.choice(PLACES)
        moment = rng.choice(MOMENTS)
        recent = ()
        if rng.random() < 0.2:
            recent = (SentRecord(at=moment - timedelta(hours=rng.choice((1, 30))), final_text=rng.choice(TEXTS),
                                 topic_kind=TopicKind.MARKETING, source=Source.CAMPAIGN),)
        consent = rng.choice((ConsentStatus.OPTED_IN, ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT, None))
        state = ContactState(
            phone=f"+8210{index:08d}", country=country, subdivision=subdivision, time_zones=zones, language=language,
            first_name=rng.choice(("민준", "Budi", None)), global_opt_out=rng.random() < 0.05,
            consents={} if consent is None else {"promotions": consent},
            night_marketing_consent=rng.random() < 0.3, prior_relationship=rng.random() < 0.5,
            last_inbound_at=moment - timedelta(hours=2) if rng.random() < 0.1 else None,
            reachable=frozenset({"sms"}) if rng.random() < 0.9 else frozenset(), recent_outbound=recent,
            contacted_before=rng.random() < 0.5)
        request = SendRequest(text=rng.choice(TEXTS), topic=rng.choice((PROMOTIONS, PROMOTIONS, ORDERS)),
                              source=Source.CAMPAIGN, language=language)
        inputs.append((request, state, moment))
    return inputs


def test_decide_once_equals_decide_for_varied_contacts_and_reuses_decisions(monkeypatch):
    """3,000 varied inputs: every decision equals the engine's own, and far fewer engine calls are made."""
    policy = Policy()
    inputs = varied_inputs(3000)
    expected = [decide(request, state, policy, moment) for request, state, moment in inputs]
    calls = []
    monkeypatch.setattr("mannerly.campaigns.planner.decide",
                        lambda *arguments: calls.append(arguments) or engine.decide(*arguments))
    cache = DecisionCache(policy)
    got = [cache.decide_once(request, state, moment) for request, state, moment in inputs]
    assert got == expected
    assert {decision.action for decision in got} == {decision.action for decision in expected}
    assert len({decision.action.value for decision in expected}) == 3  # send, defer and reject all occur
    assert len(calls) + cache.hits == len(inputs)
    assert len(calls) < len(inputs)


def test_only_the_phone_number_is_left_out_of_the_key():
    """Two contacts differing only in their number share a decision; a different consent or zone does not."""
    cache = DecisionCache(Policy())
    request, state, moment = varied_inputs(1)[0]
    state = replace(state, consents={"promotions": ConsentStatus.OPTED_IN}, time_zones=("Asia/Seoul",))
    first = cache.decide_once(request, state, moment)
    assert cache.decide_once(request, replace(state, phone="+821099999999"), moment) is first
    assert cache.hits == 1
    cache.decide_once(request, replace(state, consents={"promotions": ConsentStatus.OPTED_OUT}), moment)
    cache.decide_once(request, replace(state, time_zones=("Asia/Jakarta",)), moment)
    cache.decide_once(request, state, moment + timedelta(hours=1))
    assert cache.hits == 1 and len(cache.decisions) == 4


def test_the_cache_starts_over_at_its_limit():
    """At most `limit` inputs are kept, so a campaign of unique texts cannot grow it without bound."""
    cache = DecisionCache(Policy(), limit=10)
    inputs = varied_inputs(200, seed=11)
    for request, state, moment in inputs:
        assert cache.decide_once(request, state, moment) == decide(request, state, cache.policy, moment)
        assert len(cache.decisions) <= 10
