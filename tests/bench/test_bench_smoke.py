"""Smoke runs of the benchmarks under bench/ at tiny sizes, so they cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *options: str, timeout: float) -> dict:
    """Run one benchmark script with --json and return its parsed output."""
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), *options, "--json"],
        capture_output=True, text=True, timeout=timeout,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return json.loads(completed.stdout)


def test_decide_throughput_runs_and_reports_plausible_figures():
    """200 decisions, 2 rounds: a positive rate, outcomes that add up, every engine stage timed."""
    result = run_bench("decide_throughput.py", "--cases", "200", "--rounds", "2", "--warmup", "1", "--no-pin",
                       timeout=60)
    assert result["cases"] == 200
    assert len(result["round_seconds"]) == 2
    rate = result["decisions_per_second"]["median"]
    assert 10 < rate < 10_000_000
    assert abs(result["us_per_decision"]["median"] - 1e6 / rate) < 1e-6 * 1e6 / rate + 1e-9
    outcomes = {row["outcome"]: row["count"] for row in result["outcomes"]}
    assert sum(outcomes.values()) == 200
    # The mix must exercise sends, deferrals and rejections alike.
    assert {label.split(":")[0] for label in outcomes} == {"send", "defer", "reject"}
    stages = {row["stage"] for row in result["stages"]}
    assert "lint check emoji" in stages and "rule quiet_hours" in stages
    assert result["goal_decisions_per_second"] == 20_000
    assert result["goal_met"] == (rate >= 20_000)


def test_decide_workload_is_deterministic():
    """The same seed builds the same inputs, so runs on different days compare like with like."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        import decide_throughput
    finally:
        sys.path.remove(str(BENCH_DIR))
    first = decide_throughput.build_workload(50, seed=7)
    second = decide_throughput.build_workload(50, seed=7)
    assert first == second
    assert decide_throughput.build_workload(50, seed=8) != first


def test_end_to_end_hands_off_every_message():
    """20 messages through a real server on loopback: all accepted, all handed off, latencies measured."""
    result = run_bench("end_to_end.py", "--messages", "20", "--concurrency", "4", "--timeout", "60", timeout=90)
    assert result["posted"] == 20
    assert result["http_statuses"] == {"201": 20}
    assert result["initial_statuses"] == {"pending": 20}
    assert result["handed_off"] == 20 and result["all_handed_off"]
    assert result["messages_per_second"] > 0
    latency = result["api_latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert result["queue_lag_ms"]["max"] >= 0


def test_webhook_throughput_stores_every_accepted_event():
    """30 signed Twilio webhooks through a real server: all 200, all stored, latencies measured."""
    result = run_bench("webhook_throughput.py", "--requests", "30", "--concurrency", "3", timeout=120)
    assert result["statuses"] == {"200": 30}
    assert result["stored_events"] == 30
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["requests_per_second"] > 0


def test_plan_campaign_plans_the_same_in_parallel_and_in_one_process():
    """3,000 contacts, --parallel on and off: the same queued and excluded counts, the raw copy beside them."""
    results = {mode: run_bench("plan_campaign.py", "--contacts", "3000", "--batch", "700", "--parallel", mode,
                               timeout=180) for mode in ("on", "off")}
    on, off = results["on"], results["off"]
    assert on["done"] and off["done"] and on["queued"] + on["rejected"] == 3000
    assert (on["queued"], on["excluded"], on["batches"]) == (off["queued"], off["excluded"], off["batches"])
    assert on["worker_peak_rss_mib"] > 0 and off["worker_peak_rss_mib"] is None
    assert on["raw_rows"] == off["raw_rows"] == 2 * on["queued"] + 3000  # messages, short links, recipients
    assert on["peak_rss_mib"] == on["planner_peak_rss_mib"] + on["worker_peak_rss_mib"]


def test_plan_concurrent_writes_plans_while_an_api_writer_writes():
    """3,000 contacts in transactions of 300 while one API writer writes: every write answered, none failed."""
    result = run_bench("plan_concurrent_writes.py", "--contacts", "3000", "--write-chunk", "300", timeout=180)
    # Contacts the API creates while the plan runs join the segment after the fixture's 3,000 (more batches).
    assert result["done"] and result["queued"] > 0 and result["transactions"] >= 10
    writes = result["writes"]["all"]
    assert set(writes) == {"inbound", "stop", "send"}
    assert all(figures["count"] > 0 and figures["failed"] == 0 for figures in writes.values()), writes
