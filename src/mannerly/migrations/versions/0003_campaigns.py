"""Segments, campaigns, campaign recipients, tracked short links and their clicks (issue 5, part A).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the segment, campaign and short-link tables."""
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('filter', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_segments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_segments_workspace_id_name'))
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segments_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=True),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('template_name', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('throttle_per_minute', sa.Integer(), nullable=False),
    sa.Column('track_links', sa.Boolean(), nullable=False),
    sa.Column('plan_cursor', sa.Integer(), nullable=False),
    sa.Column('planned_count', sa.Integer(), nullable=False),
    sa.Column('next_slot_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planning_done', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_campaigns_segment_id_segments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_campaigns_topic_id_topics'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_campaigns_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_campaigns_workspace_id_name'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('campaign_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_recipients_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_campaign_recipients_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_campaign_recipients_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_campaign_recipients_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_recipients')),
    sa.UniqueConstraint('campaign_id', 'contact_id', name=op.f('uq_campaign_recipients_campaign_id_contact_id'))
    )
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_recipients_campaign_id_status', ['campaign_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_recipients_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_recipients_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_recipients_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('short_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('automation_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('click_count', sa.Integer(), nullable=False),
    sa.Column('first_clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_short_links_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_short_links_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_short_links_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_short_links_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_short_links')),
    sa.UniqueConstraint('code', name=op.f('uq_short_links_code'))
    )
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_short_links_automation_id'), ['automation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_short_links_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_short_links_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_short_links_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_short_links_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('link_clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('short_link_id', sa.Integer(), nullable=False),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['short_link_id'], ['short_links.id'], name=op.f('fk_link_clicks_short_link_id_short_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_link_clicks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_clicks'))
    )
    with op.batch_alter_table('link_clicks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_clicks_short_link_id'), ['short_link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_clicks_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_link_clicks_workspace_id_clicked_at', ['workspace_id', 'clicked_at'], unique=False)



def downgrade() -> None:
    """Drop what upgrade() created."""
    with op.batch_alter_table('link_clicks', schema=None) as batch_op:
        batch_op.drop_index('ix_link_clicks_workspace_id_clicked_at')
        batch_op.drop_index(batch_op.f('ix_link_clicks_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_link_clicks_short_link_id'))

    op.drop_table('link_clicks')
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_short_links_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_short_links_message_id'))
        batch_op.drop_index(batch_op.f('ix_short_links_contact_id'))
        batch_op.drop_index(batch_op.f('ix_short_links_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_short_links_automation_id'))

    op.drop_table('short_links')
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_recipients_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_recipients_message_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_recipients_contact_id'))
        batch_op.drop_index('ix_campaign_recipients_campaign_id_status')

    op.drop_table('campaign_recipients')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_workspace_id'))
        batch_op.drop_index('ix_campaigns_status')

    op.drop_table('campaigns')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segments_workspace_id'))

    op.drop_table('segments')
