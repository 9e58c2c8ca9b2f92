"""Smoke run of bench/smpp_throughput.py at a tiny size, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "smpp_throughput.py"


def test_smpp_benchmark_runs_and_reports_figures():
    """20 messages through the dispatcher and 50 per raw loop: all delivered, positive rates, phases timed."""
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--messages", "20", "--raw", "50", "--receipt-delay-ms", "0", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    assert report["final_statuses"] == {"delivered": 20}
    assert report["dispatch_messages_per_second"] > 0
    assert all(report["raw"][key] > 0 for key in ("raw_submit_sm_loop_per_second", "adapter_send_loop_per_second",
                                                  "adapter_send_many_per_second"))
    assert set(report["us_per_message"]) >= {"redecide", "start_hand_off", "record_in_flight", "record_results"}
    assert report["goal_messages_per_second"] == 3000
    # The default connector is a child process, whose CPU time is reported apart.
    assert report["connector"] == "process" and report["cpu_us_per_message"]["connector_process"] is not None
