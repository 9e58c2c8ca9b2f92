"""Operator endpoints and logs: /readyz, /metrics, JSON logs without phone numbers."""

from __future__ import annotations

import io
import json
import logging

from sqlalchemy import text

from mannerly.observability import PHONE_MASK, configure_logging, mask_phone_numbers
from tests.api.test_webhooks import hook  # noqa: F401 - the signed test provider's fixture

SEOUL_MOBILE = "+821023456789"


def metric_value(body: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}}" if labels else name
    for line in body.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_readyz_is_ready_on_a_migrated_database(api):
    response = api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert api.client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_503_when_the_schema_is_behind(api):
    with api.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    response = api.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "schema at 0004" in response.json()["detail"]


def test_readyz_reports_an_unreachable_redis(api, monkeypatch):
    unreachable = api.runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})  # port 1: nobody
    monkeypatch.setattr(api.runtime, "settings", unreachable)
    response = api.client.get("/readyz")
    assert response.status_code == 503
    assert "redis: unreachable" in response.json()["detail"]


def test_metrics_count_decisions_handoffs_and_the_queue(api):
    before = api.client.get("/metrics").text
    sent = api.post("/v1/messages", json={"to": SEOUL_MOBILE, "topic": "orders", "text": "Your order has shipped."})
    assert sent.status_code == 201, sent.text
    queued = api.client.get("/metrics")
    assert queued.headers["content-type"].startswith("text/plain")
    assert metric_value(queued.text, "mannerly_outbox_messages", status="pending") == 1
    api.dispatch()
    after = api.client.get("/metrics").text
    assert metric_value(after, "mannerly_outbox_messages", status="pending") == 0
    handed = metric_value(after, "mannerly_handoffs_total", channel="sms", outcome="accepted")
    assert handed - metric_value(before, "mannerly_handoffs_total", channel="sms", outcome="accepted") == 1
    decided = metric_value(after, "mannerly_decisions_total", action="send")
    assert decided - metric_value(before, "mannerly_decisions_total", action="send") == 2  # API, then dispatcher
    assert metric_value(after, "mannerly_dispatch_pass_seconds_count") > metric_value(
        before, "mannerly_dispatch_pass_seconds_count")


def test_metrics_time_webhooks_by_provider_and_status(api, hook):  # noqa: F811
    before = api.client.get("/metrics").text
    assert hook({"messages": [{"id": "m-metrics", "from": SEOUL_MOBILE, "text": "hi"}]}).status_code == 200
    assert hook({"messages": []}, secret="wrong").status_code == 403
    after = api.client.get("/metrics").text
    for status in ("200", "403"):
        count = "mannerly_webhook_seconds_count"
        assert metric_value(after, count, provider="signedjson", status=status) - metric_value(
            before, count, provider="signedjson", status=status) == 1


def test_phone_numbers_are_masked_in_every_form():
    for number in (SEOUL_MOBILE, "+30 697 123 4567", "(305) 555-0123", "010-1234-5678", "081234567890"):
        assert mask_phone_numbers(f"to {number}: refused") == f"to {PHONE_MASK}: refused"
    kept = "order A-1002 (12345 items) at 2026-11-24T10:00:00Z"
    assert mask_phone_numbers(kept) == kept


def test_json_logs_are_one_object_per_line_without_phone_numbers():
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream=stream)
    try:
        log = logging.getLogger("mannerly.test")
        log.warning("hand-off to %s failed", SEOUL_MOBILE)
        try:
            raise ValueError(f"bad number {SEOUL_MOBILE}")
        except ValueError:
            log.exception("webhook from %s", "+13055550123")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["warning", "error"]
    assert lines[0]["message"] == f"hand-off to {PHONE_MASK} failed"
    assert lines[1]["message"] == f"webhook from {PHONE_MASK}"
    assert "ValueError" in lines[1]["exception"]
    assert "1023456789" not in stream.getvalue() and "5550123" not in stream.getvalue()


def test_an_unknown_log_format_is_refused():
    import pytest

    with pytest.raises(ValueError, match="log format"):
        configure_logging("INFO", "xml")
