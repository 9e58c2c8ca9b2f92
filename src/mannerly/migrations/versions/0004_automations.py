"""Automations, business events, appointments, coupons and quick replies (issue 5, part B).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the automation, event, appointment, coupon and quick-reply tables."""
    op.create_table('quick_reply_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('template_name', sa.String(length=128), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_quick_reply_sets_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quick_reply_sets')),
    sa.UniqueConstraint('workspace_id', 'template_name', name=op.f('uq_quick_reply_sets_workspace_id_template_name'))
    )
    with op.batch_alter_table('quick_reply_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quick_reply_sets_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_appointments_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_appointments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('workspace_id', 'external_id', name=op.f('uq_appointments_workspace_id_external_id'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointments_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_appointments_workspace_id_starts_at', ['workspace_id', 'starts_at'], unique=False)

    op.create_table('automations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=True),
    sa.Column('template_name', sa.String(length=128), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_automations_topic_id_topics'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_automations_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automations')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_automations_workspace_id_name'))
    )
    with op.batch_alter_table('automations', schema=None) as batch_op:
        batch_op.create_index('ix_automations_enabled_next_run_at', ['enabled', 'next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_automations_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('business_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_business_events_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_business_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_events')),
    sa.UniqueConstraint('workspace_id', 'type', 'external_id', name=op.f('uq_business_events_workspace_id_type_external_id'))
    )
    with op.batch_alter_table('business_events', schema=None) as batch_op:
        batch_op.create_index('ix_business_events_contact_id_type', ['contact_id', 'type'], unique=False)
        batch_op.create_index(batch_op.f('ix_business_events_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_business_events_workspace_id_type_occurred_at', ['workspace_id', 'type', 'occurred_at'], unique=False)

    op.create_table('coupon_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('automation_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('percent', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['automation_id'], ['automations.id'], name=op.f('fk_coupon_codes_automation_id_automations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_coupon_codes_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_coupon_codes_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_codes')),
    sa.UniqueConstraint('workspace_id', 'code', name=op.f('uq_coupon_codes_workspace_id_code'))
    )
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_codes_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_codes_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('automation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('automation_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_key', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('coupon_code', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_automation_runs_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['automation_id'], ['automations.id'], name=op.f('fk_automation_runs_automation_id_automations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_automation_runs_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['business_events.id'], name=op.f('fk_automation_runs_event_id_business_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_automation_runs_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_automation_runs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
    sa.UniqueConstraint('automation_id', 'contact_id', 'occurrence_key', name=op.f('uq_automation_runs_automation_id_contact_id_occurrence_key'))
    )
    with op.batch_alter_table('automation_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_automation_runs_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_automation_runs_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_automation_runs_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_automation_runs_workspace_id_created_at', ['workspace_id', 'created_at'], unique=False)

    op.create_table('quick_reply_prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('template_name', sa.String(length=128), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_quick_reply_prompts_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_quick_reply_prompts_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_quick_reply_prompts_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_quick_reply_prompts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quick_reply_prompts')),
    sa.UniqueConstraint('message_id', name=op.f('uq_quick_reply_prompts_message_id'))
    )
    with op.batch_alter_table('quick_reply_prompts', schema=None) as batch_op:
        batch_op.create_index('ix_quick_reply_prompts_contact_id_created_at', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_quick_reply_prompts_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('quick_reply_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('template_name', sa.String(length=128), nullable=False),
    sa.Column('option', sa.String(length=32), nullable=False),
    sa.Column('meaning', sa.String(length=64), nullable=False),
    sa.Column('raw_text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_quick_reply_answers_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['messages.id'], name=op.f('fk_quick_reply_answers_inbound_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['prompt_id'], ['quick_reply_prompts.id'], name=op.f('fk_quick_reply_answers_prompt_id_quick_reply_prompts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_quick_reply_answers_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quick_reply_answers'))
    )
    with op.batch_alter_table('quick_reply_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quick_reply_answers_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quick_reply_answers_prompt_id'), ['prompt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quick_reply_answers_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_quick_reply_answers_workspace_id_created_at', ['workspace_id', 'created_at'], unique=False)



def downgrade() -> None:
    """Drop what upgrade() created."""
    with op.batch_alter_table('quick_reply_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_quick_reply_answers_workspace_id_created_at')
        batch_op.drop_index(batch_op.f('ix_quick_reply_answers_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_quick_reply_answers_prompt_id'))
        batch_op.drop_index(batch_op.f('ix_quick_reply_answers_contact_id'))

    op.drop_table('quick_reply_answers')
    with op.batch_alter_table('quick_reply_prompts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quick_reply_prompts_workspace_id'))
        batch_op.drop_index('ix_quick_reply_prompts_contact_id_created_at')

    op.drop_table('quick_reply_prompts')
    with op.batch_alter_table('automation_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_automation_runs_workspace_id_created_at')
        batch_op.drop_index(batch_op.f('ix_automation_runs_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_automation_runs_message_id'))
        batch_op.drop_index(batch_op.f('ix_automation_runs_contact_id'))

    op.drop_table('automation_runs')
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_codes_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_codes_contact_id'))

    op.drop_table('coupon_codes')
    with op.batch_alter_table('business_events', schema=None) as batch_op:
        batch_op.drop_index('ix_business_events_workspace_id_type_occurred_at')
        batch_op.drop_index(batch_op.f('ix_business_events_workspace_id'))
        batch_op.drop_index('ix_business_events_contact_id_type')

    op.drop_table('business_events')
    with op.batch_alter_table('automations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_automations_workspace_id'))
        batch_op.drop_index('ix_automations_enabled_next_run_at')

    op.drop_table('automations')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_workspace_id_starts_at')
        batch_op.drop_index(batch_op.f('ix_appointments_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_appointments_contact_id'))

    op.drop_table('appointments')
    with op.batch_alter_table('quick_reply_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quick_reply_sets_workspace_id'))

    op.drop_table('quick_reply_sets')
