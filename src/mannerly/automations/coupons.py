"""Coupon codes: one unique, hard-to-guess code per contact and occurrence, e.g. BDAY-7KQ2M9XH."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.models.automation import CouponCode

# No 0/O, 1/I/L: codes are read aloud at a till and typed from a phone screen.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_PREFIX_LENGTH = 12
_PREFIX = re.compile(r"[^A-Z0-9]")


def clean_prefix(prefix: str | None) -> str:
    """A prefix of upper-case letters and digits only (others removed), at most 12 characters."""
    return _PREFIX.sub("", (prefix or "").upper())[:MAX_PREFIX_LENGTH]


def make_code(prefix: str | None = None, choose: Callable[[str], str] = secrets.choice) -> str:
    """A new random code: PREFIX-XXXXXXXX (31^8 ≈ 8.5e11 possibilities), or just XXXXXXXX without a prefix."""
    body = "".join(choose(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    cleaned = clean_prefix(prefix)
    return f"{cleaned}-{body}" if cleaned else body


def issue_coupon(session: Session, workspace_id: int, contact_id: int, automation_id: int | None, now: datetime, *,
                 prefix: str | None = None, percent: int | None = None, valid_days: int | None = None,
                 choose: Callable[[str], str] = secrets.choice) -> CouponCode:
    """Store a new code unique in the workspace for one contact (in the caller's transaction)."""
    for _attempt in range(20):
        code = make_code(prefix, choose)
        taken = session.scalar(select(CouponCode.id).where(CouponCode.workspace_id == workspace_id,
                                                           CouponCode.code == code))
        if taken is None:
            break
    else:  # only a broken random source repeats itself twenty times
        raise RuntimeError("could not find an unused coupon code")
    coupon = CouponCode(workspace_id=workspace_id, code=code, automation_id=automation_id, contact_id=contact_id,
                        percent=percent, created_at=now,
                        expires_at=now + timedelta(days=valid_days) if valid_days else None)
    session.add(coupon)
    session.flush()
    return coupon
