"""`mannerly smsc-sim` as a process: prints where it listens, serves binds, stops on Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from mannerly.channels.base import OutboundMessage
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings

from .conftest import FAST_CONFIG, FIXED_NOW, PASSWORD, SYSTEM_ID


def test_smsc_sim_command_serves_an_esme():
    """The command listens on a free port, accepts a bind with the configured credentials and a submit."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from mannerly.cli import app; app()", "smsc-sim", "--port", "0",
         "--system-id", SYSTEM_ID, "--password", PASSWORD, "--receipt-delay-ms", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        found = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert found, line + process.stderr.read()
        settings = SmppChannelSettings.from_config(
            {"host": found.group(1), "port": int(found.group(2)), **FAST_CONFIG})
        adapter = SmppAdapter(settings, sender_id="+15550100", clock=lambda: FIXED_NOW)
        try:
            assert adapter.client.wait_bound(5), adapter.client.last_error
            result = adapter.send(OutboundMessage(1, "+306912345678", "Καλημέρα"))
            assert result.accepted and result.exchange.request["source_addr_ton"] == 1
        finally:
            adapter.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
