"""Interoperability with independent SMPP implementations.

- smpplib 2.2.4 (PyPI), an ESME library, binds to our smsc-sim, submits short and long
  messages and reads the receipts we send.
- Net::SMPP 1.19 (Debian package libnet-smpp-perl) in the SMSC role serves our ESME:
  bind, submit, a receipt whose id is written in decimal while the submit_sm_resp
  gave it in hex, a customer reply, enquire_link and unbind. Skipped (with the reason)
  where Perl or the package is not installed; `apt-get install libnet-smpp-perl` adds it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.gsm

from mannerly.channels.base import OutboundMessage
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings
from mannerly.channels.smpp.connector import ProcessSmppAdapter

from .conftest import FAST_CONFIG, PASSWORD, SYSTEM_ID, wait_for

PERL_SMSC = Path(__file__).with_name("netsmpp_smsc.pl")
NOW = datetime(2025, 3, 4, tzinfo=UTC)


def test_smpplib_client_against_smsc_sim(smsc):
    """smpplib binds as transceiver, submits a short and a long (UDH) message, and matches our receipts."""
    simulator = smsc(receipt_delay_ms=5)
    host, port = simulator.address
    client = smpplib.client.Client(host, port, timeout=5, allow_unknown_opt_params=True)
    sent_ids: list[str] = []
    receipts: list[tuple[str, int]] = []
    client.set_message_sent_handler(lambda pdu, **_: sent_ids.append(pdu.message_id.decode()))
    client.set_message_received_handler(
        lambda pdu, **_: receipts.append((pdu.receipted_message_id.decode(), pdu.message_state)))
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        texts = ["Hello from smpplib", "A long one. " * 20]
        for text in texts:
            parts, encoding, esm_class = smpplib.gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="ACME",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr="821023456789",
                    short_message=part, data_coding=encoding, esm_class=esm_class, registered_delivery=True)
        while len(receipts) < len(sent_ids) or len(sent_ids) < 3:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    assert len(sent_ids) == 3  # one short, two parts
    assert sorted(receipt_id for receipt_id, _ in receipts) == sorted(sent_ids)
    assert {state for _, state in receipts} == {2}  # DELIVERED
    assert [entry.text for entry in simulator.phone_inbox("+821023456789")] == texts
    assert simulator.stats.unbinds == 1


def test_smpplib_client_is_refused_with_a_wrong_password(smsc):
    """A bind with the wrong password gets ESME_RINVPASWD, which smpplib reports as an error."""
    simulator = smsc()
    client = smpplib.client.Client(*simulator.address, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            client.bind_transceiver(system_id=SYSTEM_ID, password="nope")
        assert refused.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    finally:
        client.disconnect()


def _net_smpp_available() -> str | None:
    """Why the Net::SMPP peer cannot run here, or None when it can."""
    if shutil.which("perl") is None:
        return "perl is not installed"
    probe = subprocess.run(["perl", "-MNet::SMPP", "-e", "1"], capture_output=True)
    if probe.returncode != 0:
        return "Net::SMPP is not installed (apt-get install libnet-smpp-perl)"
    return None


@pytest.mark.skipif(_net_smpp_available() is not None, reason=str(_net_smpp_available()))
@pytest.mark.parametrize("connector", ["thread", "process"])
def test_our_esme_against_net_smpp_smsc(connector):
    """Our ESME binds to Net::SMPP's server, submits, matches a decimal receipt to a hex id, takes a reply, unbinds;
    on a thread of this process and in the connector child."""
    process = subprocess.Popen(["perl", str(PERL_SMSC)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        first = process.stdout.readline().split()
        assert first[:1] == ["PORT"], first
        port = int(first[1])
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
        reader.start()
        settings = SmppChannelSettings.from_config(
            {"host": "127.0.0.1", "port": port, **FAST_CONFIG, "enquire_link_interval": 0.2})
        if connector == "thread":
            adapter = SmppAdapter(settings, sender_id="ACME", clock=lambda: NOW)
        else:
            adapter = ProcessSmppAdapter(settings, sender_id="ACME")
        try:
            assert adapter.wait_bound(5)
            short = adapter.send(OutboundMessage(1, "+821023456789", "Hello Net::SMPP"))
            long = adapter.send(OutboundMessage(2, "+821023456789", "안녕하세요! " * 20))
            assert short.accepted and long.accepted, (short, long)
            assert short.provider_message_id == "BC614E"
            updates: list = []
            inbound: list = []
            wait_for(lambda: updates.extend(adapter.due_status_updates(NOW))
                     or inbound.extend(adapter.pending_inbound(NOW)) or (len(updates) >= 2 and inbound), 5)
            assert sorted((u.provider_message_id, u.status) for u in updates) == sorted(
                [(short.provider_message_id, "delivered"), (long.provider_message_id, "delivered")])
            assert [(m.from_address, m.text) for m in inbound] == [("+821023456789", "Reply from Net::SMPP")]
            wait_for(lambda: any(line.startswith("ENQUIRE_LINK") for line in lines), 3)
        finally:
            adapter.close()
        process.wait(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    submits = [line for line in lines if line.startswith("SUBMIT")]
    assert submits[0].split()[1:4] == ["821023456789", "dc=0", "esm=0"]
    assert len(submits) == 1 + long.exchange.request["parts"]
    assert all("dc=8 esm=64" in line for line in submits[1:])
    assert "UNBIND\n" in lines
    assert sum(line.startswith("DELIVER_SM_RESP 0") for line in lines) == len(submits) + 1
