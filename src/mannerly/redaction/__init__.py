"""Removing card numbers and national ids from what customers send, before anything is stored (S8)."""

from mannerly.redaction.redact import KIND_LABELS, Redaction, luhn_valid, redact, redact_logged_body

__all__ = ["KIND_LABELS", "Redaction", "luhn_valid", "redact", "redact_logged_body"]
