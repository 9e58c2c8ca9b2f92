"""Inbox, teams, business hours, CSAT, bots and bookings (issue 4).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the inbox tables and add the service columns to conversations."""
    op.create_table('booking_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_booking_slots_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_slots'))
    )
    with op.batch_alter_table('booking_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_slots_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_booking_slots_workspace_id_starts_at', ['workspace_id', 'starts_at'], unique=False)

    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('shortcut', sa.String(length=50), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_canned_replies_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
    sa.UniqueConstraint('workspace_id', 'shortcut', 'language', name=op.f('uq_canned_replies_workspace_id_shortcut_language'))
    )
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_replies_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('faq_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_faq_entries_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entries'))
    )
    with op.batch_alter_table('faq_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_faq_entries_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('first_response_target_minutes', sa.Integer(), nullable=True),
    sa.Column('next_response_target_minutes', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_teams_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_teams_workspace_id_name'))
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('service_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('csat_questions', sa.JSON(), nullable=False),
    sa.Column('auto_reply_texts', sa.JSON(), nullable=False),
    sa.Column('menu', sa.JSON(), nullable=False),
    sa.Column('default_team_id', sa.Integer(), nullable=True),
    sa.Column('csat_enabled', sa.Boolean(), nullable=False),
    sa.Column('bots_enabled', sa.Boolean(), nullable=False),
    sa.Column('faq_threshold', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['default_team_id'], ['teams.id'], name=op.f('fk_service_settings_default_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_service_settings_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_settings'))
    )
    with op.batch_alter_table('service_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_settings_workspace_id'), ['workspace_id'], unique=True)

    op.create_table('team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_team_members_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('team_id', 'user_id', name=op.f('uq_team_members_team_id_user_id'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_members_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_bookings_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_bookings_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['slot_id'], ['booking_slots.id'], name=op.f('fk_bookings_slot_id_booking_slots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_bookings_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings'))
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bookings_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('conversation_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_conversation_events_actor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_events_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_conversation_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_events'))
    )
    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_events_conversation_id_occurred_at', ['conversation_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_conversation_events_kind_occurred_at', ['kind', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_events_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('conversation_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_conversation_notes_author_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_notes_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_conversation_notes_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_notes_conversation_id_created_at', ['conversation_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_notes_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('csat_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('agent_user_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('raw_text', sa.Text(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_user_id'], ['users.id'], name=op.f('fk_csat_responses_agent_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_csat_responses_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_csat_responses_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_csat_responses_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_csat_responses_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_responses'))
    )
    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_csat_responses_agent_user_id'), ['agent_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_csat_responses_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_csat_responses_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_csat_responses_workspace_id_created_at', ['workspace_id', 'created_at'], unique=False)

    # Plain ADD COLUMN, not batch mode: on SQLite batch mode rebuilds the table, and dropping the old
    # copy with foreign keys on would run ON DELETE SET NULL on every message's conversation_id. SQLite
    # cannot add a foreign key to an existing table otherwise, so team_id and resolved_by_user_id are
    # plain integers kept consistent by the services (mannerly.teams clears team_id on delete).
    op.add_column('conversations', sa.Column('team_id', sa.Integer(), nullable=True))
    op.add_column('conversations', sa.Column('resolved_by_user_id', sa.Integer(), nullable=True))
    for column in ('opened_at', 'first_response_at', 'last_agent_reply_at', 'waiting_since', 'resolved_at',
                   'csat_requested_at'):
        op.add_column('conversations', sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column('conversations', sa.Column('bot_state', sa.JSON(), nullable=True))
    op.create_index(op.f('ix_conversations_team_id'), 'conversations', ['team_id'], unique=False)


def downgrade() -> None:
    """Drop what upgrade() created (conversations lose their service columns)."""
    # Native DROP COLUMN (SQLite 3.35+), not batch mode, for the same reason as in upgrade().
    op.drop_index(op.f('ix_conversations_team_id'), table_name='conversations')
    for column in ('bot_state', 'csat_requested_at', 'resolved_by_user_id', 'resolved_at', 'waiting_since',
                   'last_agent_reply_at', 'first_response_at', 'opened_at', 'team_id'):
        op.drop_column('conversations', column)

    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_csat_responses_workspace_id_created_at')
        batch_op.drop_index(batch_op.f('ix_csat_responses_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_csat_responses_conversation_id'))
        batch_op.drop_index(batch_op.f('ix_csat_responses_agent_user_id'))

    op.drop_table('csat_responses')
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_notes_workspace_id'))
        batch_op.drop_index('ix_conversation_notes_conversation_id_created_at')

    op.drop_table('conversation_notes')
    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_events_workspace_id'))
        batch_op.drop_index('ix_conversation_events_kind_occurred_at')
        batch_op.drop_index('ix_conversation_events_conversation_id_occurred_at')

    op.drop_table('conversation_events')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bookings_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_bookings_slot_id'))
        batch_op.drop_index(batch_op.f('ix_bookings_contact_id'))

    op.drop_table('bookings')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_team_members_user_id'))

    op.drop_table('team_members')
    with op.batch_alter_table('service_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_settings_workspace_id'))

    op.drop_table('service_settings')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_workspace_id'))

    op.drop_table('teams')
    with op.batch_alter_table('faq_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faq_entries_workspace_id'))

    op.drop_table('faq_entries')
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canned_replies_workspace_id'))

    op.drop_table('canned_replies')
    with op.batch_alter_table('booking_slots', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_slots_workspace_id_starts_at')
        batch_op.drop_index(batch_op.f('ix_booking_slots_workspace_id'))

    op.drop_table('booking_slots')
