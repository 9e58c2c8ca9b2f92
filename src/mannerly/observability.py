"""Logs and metrics for operators: JSON log lines without personal data, and Prometheus metrics.

Logs: `configure_logging` installs one stderr handler; with `MANNERLY_LOG_FORMAT=json` every
line is a JSON object. A filter masks anything shaped like a phone number in every message
and traceback, whatever the format, because a number can reach a log through an exception
text. Message bodies are never logged by Mannerly's own code (only ids and counts are).

Metrics: module-level Prometheus collectors, updated where the work happens, and rendered
by `render_metrics`, which also counts the outbox by status at scrape time. With several
processes per host, set PROMETHEUS_MULTIPROC_DIR (see docs/deploy.md) and every process's
counters are summed in the answer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

LOG_FORMATS = ("text", "json")

# Seven or more digits, optionally with a leading + and the separators people write
# (spaces, dots, dashes, parentheses): E.164 numbers and national forms alike. ISO dates
# are left alone so log lines keep their times; long ids are masked too (privacy first).
PHONE_LIKE = re.compile(r"(?<![\d-])(?!\d{4}-\d{2}-\d{2})\+?\(?\d(?:[\s().-]{0,2}\d){6,}")
PHONE_MASK = "<phone>"


def mask_phone_numbers(text: str) -> str:
    """The text with every phone-number-like run of digits replaced by <phone>."""
    return PHONE_LIKE.sub(PHONE_MASK, text)


class PersonalDataFilter(logging.Filter):
    """Masks phone numbers in a record's message and exception before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        record.msg = mask_phone_numbers(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone_numbers(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and, when present, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize a record that PersonalDataFilter has already cleaned."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask_phone_numbers(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever sys.stderr is at the time of each record."""

    def __init__(self) -> None:
        """No fixed stream: a replaced sys.stderr (a test runner's capture) is followed."""
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """Ignored: the stream is always the current sys.stderr."""


def configure_logging(level: str = "INFO", log_format: str = "text", stream=None) -> logging.Handler:
    """Send Mannerly's and uvicorn's logs to one stderr handler in the chosen format; returns the handler."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [old for old in root.handlers if getattr(old, "mannerly", False)]:
        root.removeHandler(old)
    handler.mannerly = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per provider request is noise at INFO; failures still surface through our own logs.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print a second, unfiltered copy.
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    return handler


# -- metrics ------------------------------------------------------------------------------

HANDOFFS = Counter("mannerly_handoffs", "Messages handed to a channel, by channel kind and outcome "
                   "(accepted, unknown, retry, failed).", ["channel", "outcome"])
DECISIONS = Counter("mannerly_decisions", "Engine decisions taken by the dispatcher and the API, by action.",
                    ["action"])
RULE_FIRINGS = Counter("mannerly_rule_firings", "Rules that held a message back (defer or reject), by rule.",
                       ["rule", "verdict"])
WEBHOOK_SECONDS = Histogram("mannerly_webhook_seconds", "Time to verify, store and answer one provider webhook.",
                            ["provider", "status"],
                            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
DISPATCH_PASS_SECONDS = Histogram("mannerly_dispatch_pass_seconds", "Duration of one dispatcher pass.",
                                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))


def count_decision(decision) -> None:
    """Count one engine decision and the rules that held it back."""
    DECISIONS.labels(decision.action.value).inc()
    for reason in decision.reasons:
        if reason.verdict.value in ("defer", "reject"):
            RULE_FIRINGS.labels(reason.rule, reason.verdict.value).inc()


def outbox_depth(session: Session) -> dict[str, int]:
    """Outbound messages per status that are still queued or on their way."""
    from mannerly.models import Message

    queued = ("pending", "deferred", "held", "sending", "unknown")
    rows = session.execute(
        select(Message.status, func.count()).where(Message.direction == "outbound", Message.status.in_(queued))
        .group_by(Message.status)
    ).all()
    depth = dict.fromkeys(queued, 0)
    depth.update({status: count for status, count in rows})
    return depth


def render_metrics(session: Session) -> tuple[bytes, str]:
    """The Prometheus text exposition: this process's (or every process's) collectors plus the outbox depth."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    # The queue is read from the database at scrape time, so every process reports the same truth.
    scrape = CollectorRegistry()
    depth = Gauge("mannerly_outbox_messages", "Outbound messages queued or in flight, by status.", ["status"],
                  registry=scrape)
    for status, count in outbox_depth(session).items():
        depth.labels(status).set(count)
    return body + generate_latest(scrape), CONTENT_TYPE_LATEST
