"""Index messages by (contact_id, status) for the per-contact state queries.

Without it SQLite answers "contact_id IN (…) AND status IN (…)" from the (status, send_at)
index and reads every queued message for each chunk of contacts, which made planning a
large campaign slow down as the outbox grew.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the (contact_id, status) index on messages."""
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_contact_id_status', ['contact_id', 'status'], unique=False)


def downgrade() -> None:
    """Drop the (contact_id, status) index."""
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_contact_id_status')
