"""Faster segment filters: jsonb contact attributes and tags on PostgreSQL, and a consent index.

PostgreSQL re-parses a `json` column for every row a filter reads; `jsonb` is parsed once
when written, which roughly halves counting "city=Seoul" or "age>=30" over a million
contacts. SQLite has one JSON storage and is left as it is. The (topic_id, status,
contact_id) index lets "opted in to topic X" be counted from the index alone, and on
PostgreSQL an expression index on the month-day of attributes.birthday finds the
candidates of "birthday today" without reading every contact. (SQLite's planner, without
ANALYZE statistics, prefers the workspace index for that query, so it gets no such index.)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_COLUMNS = ('attributes', 'tags')
# "Birthday today" selects its candidates by the month-day ('MM-DD') of attributes.birthday.
BIRTHDAY_INDEX = 'ix_contacts_birthday_month_day'


def upgrade() -> None:
    """Turn contacts' JSON columns into jsonb (PostgreSQL only) and index consents by topic and status."""
    if op.get_bind().dialect.name == 'postgresql':
        for column in JSON_COLUMNS:
            op.execute(f'ALTER TABLE contacts ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb')
        op.execute(f"CREATE INDEX {BIRTHDAY_INDEX} ON contacts (substr(attributes ->> 'birthday', 6, 5))")
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_topic_id_status_contact_id', ['topic_id', 'status', 'contact_id'],
                              unique=False)


def downgrade() -> None:
    """Drop the consent index and turn the jsonb columns back into json."""
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_topic_id_status_contact_id')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP INDEX {BIRTHDAY_INDEX}')
        for column in JSON_COLUMNS:
            op.execute(f'ALTER TABLE contacts ALTER COLUMN {column} TYPE json USING {column}::json')
