"""Benchmark: how many `decide()` calls one CPU core runs per second on precomputed inputs.

The inputs are a deterministic, realistic mix: contacts in KR/ID/GR/US (some with
several time zones), transactional, urgent and marketing topics, texts of several
lengths in Korean, Indonesian, Greek and English, recent outbound history, replies,
opt-outs, and `now` moments that fall inside and outside the sending window and on
public holidays. Building the inputs is not timed; only the `decide` calls are.

Run from the repository root:

    .venv/bin/python bench/decide_throughput.py [--cases 10000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from mannerly.kit.sms import analyze
from mannerly.policy import lint
from mannerly.policy.context import RuleContext
from mannerly.policy.engine import RULES, decide, earliest_send_time
from mannerly.policy.lint._common import LintContext
from mannerly.policy.rules import whatsapp_window
from mannerly.policy.types import (
    ConsentStatus,
    ContactState,
    Decision,
    Policy,
    SendRequest,
    SentRecord,
    Source,
    Topic,
    TopicKind,
    Verdict,
)

GOAL_DECISIONS_PER_SECOND = 20_000
DEFAULT_SEED = 20261123

# Moments (UTC) the decisions are taken at, with a note on what they mean locally.
MOMENTS = (
    datetime(2026, 11, 24, 1, 0, tzinfo=UTC),  # Tue: KR 10:00, ID 08:00, GR 03:00, US Mon 20:00
    datetime(2026, 11, 24, 7, 30, tzinfo=UTC),  # Tue: KR 16:30, ID 14:30, GR 09:30, US 02:30
    datetime(2026, 11, 24, 15, 0, tzinfo=UTC),  # Tue: KR 00:00, ID 22:00, GR 17:00, US 10:00
    datetime(2026, 11, 25, 4, 0, tzinfo=UTC),  # Wed: KR 13:00, ID 11:00, GR 06:00, US Tue 23:00
    datetime(2026, 11, 26, 16, 0, tzinfo=UTC),  # Thu: US Thanksgiving 11:00, GR 18:00
    datetime(2026, 11, 28, 2, 0, tzinfo=UTC),  # Sat: weekend everywhere
    datetime(2026, 12, 25, 3, 0, tzinfo=UTC),  # Fri: Christmas in all four countries
    datetime(2026, 9, 25, 2, 0, tzinfo=UTC),  # Fri: Chuseok in Korea
    datetime(2026, 10, 28, 9, 0, tzinfo=UTC),  # Wed: Ohi Day in Greece
)
MOMENT_WEIGHTS = (4, 4, 4, 3, 2, 1, 1, 1, 1)

# (country, language, time zones choices, phone prefix)
COUNTRIES = (
    ("KR", "ko", (("Asia/Seoul",),), "+8210"),
    ("ID", "id", (("Asia/Jakarta",), ("Asia/Makassar",),
                  ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Asia/Pontianak")), "+628"),
    ("GR", "el", (("Europe/Athens",),), "+3069"),
    ("US", "en", (("America/New_York",), ("America/Chicago",), ("America/Los_Angeles",),
                  ("America/New_York", "America/Chicago")), "+1"),
)
COUNTRY_WEIGHTS = (3, 3, 2, 2)

# Texts by language, short to long (multi-segment); all read like real business messages.
TEXTS = {
    "en": (
        "Your order {n} has shipped.",
        "Hi {name}, your order {n} has shipped and should arrive on Thursday. You can track it in your account.",
        "Reminder: your appointment is tomorrow at 10:30. Reply to this message if you need to change it.",
        "Hi {name}, thank you for your purchase. Your receipt for order {n} is in your account, together with "
        "the delivery details and the return policy. If anything is wrong with the order, reply to this "
        "message and our team will help you within one working day.",
        "Our winter sale starts this weekend: 20% off all coats and boots until Sunday.",
    ),
    "ko": (
        "주문하신 상품 {n}번이 발송되었습니다.",
        "{name}님, 주문하신 상품({n})이 발송되었습니다. 배송 현황은 내 계정에서 확인하실 수 있습니다.",
        "내일 오전 10시 30분 예약을 알려드립니다. 변경이 필요하시면 답장 주세요.",
        "{name}님, 구매해 주셔서 감사합니다. 주문 {n}번의 영수증과 배송 정보, 반품 안내는 내 계정에서 "
        "확인하실 수 있습니다. 주문에 문제가 있으면 이 메시지에 답장해 주시면 영업일 기준 하루 안에 "
        "도와드리겠습니다.",
        "이번 주말 겨울 세일: 모든 코트와 부츠 20% 할인, 일요일까지.",
    ),
    "id": (
        "Pesanan {n} Anda sudah dikirim.",
        "Halo {name}, pesanan {n} Anda sudah dikirim dan tiba hari Kamis. Lacak pengiriman di akun Anda.",
        "Pengingat: janji temu Anda besok pukul 10.30. Balas pesan ini jika perlu mengubahnya.",
        "Halo {name}, terima kasih atas pembelian Anda. Tanda terima pesanan {n} ada di akun Anda, bersama "
        "rincian pengiriman dan kebijakan pengembalian. Jika ada masalah dengan pesanan, balas pesan ini "
        "dan tim kami akan membantu dalam satu hari kerja.",
        "Diskon musim hujan akhir pekan ini: 20% untuk semua jaket dan sepatu sampai hari Minggu.",
    ),
    "el": (
        "Η παραγγελία σας {n} στάλθηκε.",
        "Γεια σας {name}, η παραγγελία σας {n} στάλθηκε και θα φτάσει την Πέμπτη.",
        "Υπενθύμιση: το ραντεβού σας είναι αύριο στις 10:30. Απαντήστε για αλλαγή.",
        "Γεια σας {name}, ευχαριστούμε για την αγορά σας. Η απόδειξη της παραγγελίας {n} βρίσκεται στον "
        "λογαριασμό σας, μαζί με τα στοιχεία αποστολής και την πολιτική επιστροφών.",
        "Χειμερινές εκπτώσεις αυτό το Σαββατοκύριακο: 20% σε όλα τα παλτά ως την Κυριακή.",
    ),
}
MARKETING_TEXT_INDEX = 4
# Texts with content problems: a placeholder left in (error), a request for a password (error),
# shouting and typos (warnings). About 4% of the mix.
FLAWED_TEXTS = {
    "en": ("Hi [First Name], your order {n} has shipped.", "Please reply with your password to confirm order {n}.",
           "YOUR ORDER {n} HAS SHIPPED!!! CHECK IT NOW", "Hi {name}, your ordr {n} has shiped and arives Thursday."),
    "ko": ("[First Name]님, 주문하신 상품 {n}번이 발송되었습니다.",),
    "id": ("Halo [First Name], pesanan {n} Anda sudah dikirim.",),
    "el": ("Γεια σας [First Name], η παραγγελία σας {n} στάλθηκε.",),
}
NAMES = {"en": ("Maria", "John", "Ava"), "ko": ("민준", "서연", "지호"),
         "id": ("Budi", "Siti", "Agus"), "el": ("Γιώργος", "Ελένη", "Νίκος")}

ORDERS = Topic("orders", TopicKind.TRANSACTIONAL)
SECURITY = Topic("security-alerts", TopicKind.TRANSACTIONAL, urgent=True)
PROMOTIONS = Topic("promotions", TopicKind.MARKETING, keyword="PROMO")

POLICIES = (
    Policy(brand_names={"en": "Demo Shop", "ko": "데모샵", "id": "Toko Demo", "el": "Demo Shop"}),
    Policy(brand_names={"en": "Acme"}, window_start=clock_time(8, 0), window_end=clock_time(21, 0)),
    Policy(brand_names={"en": "Kafe Kita", "id": "Kafe Kita"}, workdays=frozenset(range(6)), skip_holidays=False),
)


@dataclass(frozen=True, slots=True)
class DecideCase:
    """One precomputed input of decide()."""

    request: SendRequest
    contact: ContactState
    policy: Policy
    now: datetime


def build_history(rng: random.Random, now: datetime, texts: tuple[str, ...]) -> tuple[SentRecord, ...]:
    """Zero to six earlier outbound messages within the last seven days (texts about earlier orders)."""
    count = rng.choices((0, 1, 2, 3, 6), weights=(4, 3, 2, 1, 1))[0]
    records = []
    for _ in range(count):
        kind = rng.choice((TopicKind.TRANSACTIONAL, TopicKind.MARKETING))
        source = Source.CAMPAIGN if kind is TopicKind.MARKETING and rng.random() < 0.6 else Source.API
        at = now - timedelta(minutes=rng.randint(5, 7 * 24 * 60))
        records.append(SentRecord(at=at, final_text=rng.choice(texts), topic_kind=kind, source=source))
    return tuple(sorted(records, key=lambda record: record.at))


def build_case(rng: random.Random, index: int) -> DecideCase:
    """One realistic (request, contact, policy, now) tuple, chosen by the RNG."""
    country, language, zone_choices, prefix = rng.choices(COUNTRIES, weights=COUNTRY_WEIGHTS)[0]
    now = rng.choices(MOMENTS, weights=MOMENT_WEIGHTS)[0]
    name = rng.choice(NAMES[language])
    texts = tuple(text.format(n=1000 + index, name=name) for text in TEXTS[language])
    earlier_texts = tuple(text.format(n=index, name=name) for text in TEXTS[language])
    roll = rng.random()
    if roll < 0.04:
        topic, text = ORDERS, rng.choice(FLAWED_TEXTS[language]).format(n=1000 + index, name=name)
    elif roll < 0.55:
        topic, text = ORDERS, rng.choice(texts[:MARKETING_TEXT_INDEX])
    elif roll < 0.65:
        topic, text = SECURITY, texts[0]
    else:
        topic, text = PROMOTIONS, texts[MARKETING_TEXT_INDEX]
    source = Source.CAMPAIGN if topic.marketing and rng.random() < 0.7 else Source.API
    replying = not topic.marketing and rng.random() < 0.1
    history = build_history(rng, now, earlier_texts)
    if rng.random() < 0.03:
        # The same text already went out an hour ago: the duplicate rule refuses it.
        history += (SentRecord(at=now - timedelta(hours=1), final_text=text, topic_kind=topic.kind),)
    consents = {}
    if rng.random() < 0.75:
        consents[PROMOTIONS.name] = ConsentStatus.OPTED_IN
    elif rng.random() < 0.3:
        consents[PROMOTIONS.name] = ConsentStatus.OPTED_OUT
    last_inbound = now - timedelta(hours=rng.randint(1, 30)) if replying or rng.random() < 0.2 else None
    whatsapp = rng.random() < 0.15
    contact = ContactState(
        phone=f"{prefix}{rng.randint(10_000_000, 99_999_999)}",
        country=country,
        subdivision="FL" if country == "US" and rng.random() < 0.2 else None,
        time_zones=rng.choice(zone_choices),
        language=language,
        first_name=name,
        global_opt_out=rng.random() < 0.02,
        consents=consents,
        night_marketing_consent=country == "KR" and rng.random() < 0.3,
        prior_relationship=rng.random() < 0.9,
        last_inbound_at=last_inbound,
        whatsapp_last_inbound_at=last_inbound if whatsapp else None,
        reachable=frozenset({"sms", "whatsapp"}) if whatsapp else frozenset({"sms"}),
        recent_outbound=history,
        contacted_before=bool(history) or rng.random() < 0.5,
    )
    request = SendRequest(
        text=text,
        topic=topic,
        source=Source.AGENT if replying else source,
        reply=replying,
        language=language if rng.random() < 0.5 else None,
    )
    return DecideCase(request=request, contact=contact, policy=rng.choice(POLICIES), now=now)


def build_workload(count: int, seed: int = DEFAULT_SEED) -> list[DecideCase]:
    """`count` deterministic decide() inputs for a seed."""
    rng = random.Random(seed)
    return [build_case(rng, index) for index in range(count)]


def outcome_label(decision: Decision) -> str:
    """'send', or the action with the rules that held or refused the message ('defer: quiet_hours')."""
    action = decision.action.value
    if action == "send":
        return action
    wanted = Verdict.DEFER if action == "defer" else Verdict.REJECT
    rules = sorted({reason.rule for reason in decision.reasons if reason.verdict is wanted})
    return f"{action}: {'+'.join(rules) or 'schedule'}"


def pin_to_one_core() -> str:
    """Pin this process to CPU 0 where the OS allows it; says what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    try:
        os.sched_setaffinity(0, {0})
    except OSError as error:
        return f"not pinned ({error})"
    return "pinned to CPU 0"


def time_round(cases: list[DecideCase]) -> float:
    """Seconds for one decide() over every case, with the garbage collector paused."""
    gc.disable()
    try:
        started = time.perf_counter()
        for case in cases:
            decide(case.request, case.contact, case.policy, case.now)
        return time.perf_counter() - started
    finally:
        gc.enable()


def outcome_breakdown(cases: list[DecideCase]) -> list[dict]:
    """Per outcome: how many cases and the mean µs of deciding them, each call timed on its own."""
    totals: dict[str, float] = defaultdict(float)
    counts: Counter[str] = Counter()
    for case in cases:
        started = time.perf_counter()
        decision = decide(case.request, case.contact, case.policy, case.now)
        elapsed = time.perf_counter() - started
        label = outcome_label(decision)
        totals[label] += elapsed
        counts[label] += 1
    return [
        {"outcome": label, "count": count, "share": count / len(cases), "mean_us": totals[label] / count * 1e6}
        for label, count in counts.most_common()
    ]


def stage_breakdown(cases: list[DecideCase]) -> list[dict]:
    """Mean µs per decision of each stage of decide(), each stage called and timed on its own.

    Mirrors the steps of mannerly.policy.engine.decide (channel choice, lint fixers and
    checks, SMS analysis, rules, scheduling) so the owner of a slow stage can see it
    without profiler overhead. The stages' sum is close to, not exactly, decide's time.
    """
    totals: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    for case in cases:
        request, contact, policy = case.request, case.contact, case.policy
        now = case.now.astimezone(UTC)
        language = request.language or contact.language or "en"
        started = clock()
        channel, channel_outcome, _options = whatsapp_window.select_channel(request, contact, policy, now)
        totals["channel choice (rules.whatsapp_window)"] += clock() - started
        context = LintContext(request=request, contact=contact, policy=policy, language=language)
        text = request.text
        for fixer in lint.FIXERS:
            started = clock()
            text, _ = fixer.fix(text, context)
            totals[f"lint fixer {fixer.__name__.rsplit('.', 1)[-1]}"] += clock() - started
        for check in lint.CHECKS:
            started = clock()
            check.check(text, context)
            totals[f"lint check {check.__name__.rsplit('.', 1)[-1]}"] += clock() - started
        started = clock()
        analyze(text)
        totals["lint kit.sms.analyze (final size)"] += clock() - started
        zones = contact.time_zones or ("UTC",)
        rule_context = RuleContext(request=request, contact=contact, policy=policy, now=now, zones=zones,
                                   zones_known=bool(contact.time_zones), language=language, final_text=text,
                                   channel=channel or (request.channel or "sms"))
        outcomes = [channel_outcome]
        for rule in RULES:
            started = clock()
            outcomes.append(rule.check(rule_context))
            totals[f"rule {rule.__name__.rsplit('.', 1)[-1]}"] += clock() - started
        if not any(outcome.reject for outcome in outcomes):
            started = clock()
            earliest_send_time(outcomes, rule_context)
            totals["schedule (engine.earliest_send_time)"] += clock() - started
    grand_total = sum(totals.values())
    return [
        {"stage": stage, "us_per_decision": seconds / len(cases) * 1e6, "share": seconds / grand_total}
        for stage, seconds in sorted(totals.items(), key=lambda item: item[1], reverse=True)
    ]


def profile_top(cases: list[DecideCase], limit: int) -> str:
    """cProfile one round and return the top functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for case in cases:
        decide(case.request, case.contact, case.policy, case.now)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def run_benchmark(case_count: int, rounds: int, warmup: int, seed: int = DEFAULT_SEED, pin: bool = True) -> dict:
    """Build the workload, warm up, time `rounds` rounds and return the figures as a dict."""
    pinning = pin_to_one_core() if pin else "not pinned (asked not to)"
    build_started = time.perf_counter()
    cases = build_workload(case_count, seed)
    build_seconds = time.perf_counter() - build_started
    for _ in range(warmup):
        time_round(cases)
    round_seconds = [time_round(cases) for _ in range(rounds)]
    rates = [case_count / seconds for seconds in round_seconds]
    median_rate = statistics.median(rates)
    return {
        "benchmark": "decide_throughput",
        "cases": case_count,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "seed": seed,
        "pinning": pinning,
        "build_seconds": build_seconds,
        "round_seconds": round_seconds,
        "decisions_per_second": {"median": median_rate, "best": max(rates), "worst": min(rates)},
        "us_per_decision": {"median": 1e6 / median_rate, "best": 1e6 / max(rates)},
        "goal_decisions_per_second": GOAL_DECISIONS_PER_SECOND,
        "goal_met": median_rate >= GOAL_DECISIONS_PER_SECOND,
        "outcomes": outcome_breakdown(cases),
        "stages": stage_breakdown(cases),
        "python": platform.python_version(),
    }


def format_report(result: dict) -> str:
    """The result as a short plain-text table."""
    rate, per = result["decisions_per_second"], result["us_per_decision"]
    lines = [
        f"decide() throughput: {result['cases']:,} cases x {result['rounds']} rounds "
        f"({result['warmup_rounds']} warm-up), {result['pinning']}, Python {result['python']}",
        "",
        f"{'round':>7} {'seconds':>9} {'decisions/s':>12} {'us/decision':>12}",
    ]
    for number, seconds in enumerate(result["round_seconds"], start=1):
        lines.append(f"{number:>7} {seconds:>9.3f} {result['cases'] / seconds:>12,.0f} "
                     f"{seconds / result['cases'] * 1e6:>12.1f}")
    lines += [
        f"{'median':>7} {'':>9} {rate['median']:>12,.0f} {per['median']:>12.1f}",
        "",
        f"goal >= {result['goal_decisions_per_second']:,}/s: {'MET' if result['goal_met'] else 'NOT MET'}",
        "",
        f"{'outcome':<48} {'count':>7} {'share':>7} {'mean us':>9}",
    ]
    for row in result["outcomes"]:
        lines.append(f"{row['outcome']:<48} {row['count']:>7,} {row['share']:>7.1%} {row['mean_us']:>9.1f}")
    lines += ["", f"{'stage (timed on its own)':<48} {'us/decision':>15} {'share':>7}"]
    for row in result["stages"]:
        lines.append(f"{row['stage']:<48} {row['us_per_decision']:>15.1f} {row['share']:>7.1%}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="precomputed inputs (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds over all inputs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the input mix")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to CPU 0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="also cProfile one round and print the top N functions")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--cases and --rounds must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table or JSON; exit 0 whether or not the goal is met."""
    args = parse_args(argv)
    result = run_benchmark(args.cases, args.rounds, args.warmup, seed=args.seed, pin=not args.no_pin)
    if args.profile:
        result["profile"] = profile_top(build_workload(args.cases, args.seed), args.profile)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
        if args.profile:
            print("\n" + result["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
