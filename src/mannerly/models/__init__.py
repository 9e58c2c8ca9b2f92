"""SQLAlchemy tables of Mannerly, one module per table or small group; no business logic here.

Importing this package registers every table on `Base.metadata` (Alembic relies on it).
JSON columns are plain JSON: assign a new dict/list to change them, in-place edits are not tracked.
"""

from mannerly.models.audit import AuditEvent
from mannerly.models.automation import (
    APPOINTMENT_STATES,
    AUTOMATION_KINDS,
    AUTOMATION_RUN_STATUSES,
    Appointment,
    Automation,
    AutomationRun,
    BusinessEvent,
    CouponCode,
)
from mannerly.models.base import NAMING_CONVENTION, Base, UTCDateTime, utc_now
from mannerly.models.bots import Booking, BookingSlot, FaqEntry, ServiceSettings
from mannerly.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES, Campaign, CampaignRecipient, Segment
from mannerly.models.channel import CHANNEL_PROVIDERS, Channel
from mannerly.models.consent import CONSENT_SOURCES, CONSENT_STATUSES, Consent, ConsentEvent
from mannerly.models.contact import Contact
from mannerly.models.conversation import CONVERSATION_STATUSES, Conversation
from mannerly.models.csat import CsatResponse
from mannerly.models.idempotency import IdempotencyKey
from mannerly.models.inbox import CONVERSATION_EVENT_KINDS, CannedReply, ConversationEvent, ConversationNote
from mannerly.models.links import LinkClick, ShortLink
from mannerly.models.message import (
    INBOUND_STATUSES,
    MESSAGE_DIRECTIONS,
    MESSAGE_SOURCES,
    OUTBOUND_STATUSES,
    Message,
    MessageStatusEvent,
)
from mannerly.models.quickreply import QuickReplyAnswer, QuickReplyPrompt, QuickReplySet
from mannerly.models.provider_exchange import EXCHANGE_DIRECTIONS, ProviderExchange
from mannerly.models.template import Template
from mannerly.models.team import Team, TeamMember
from mannerly.models.topic import TOPIC_KINDS, Topic
from mannerly.models.user import USER_ROLES, ApiKey, User
from mannerly.models.webhook_event import WEBHOOK_EVENT_KINDS, WebhookEvent
from mannerly.models.workspace import Workspace

__all__ = [
    "APPOINTMENT_STATES",
    "AUTOMATION_KINDS",
    "AUTOMATION_RUN_STATUSES",
    "Appointment",
    "Automation",
    "AutomationRun",
    "BusinessEvent",
    "CouponCode",
    "QuickReplyAnswer",
    "QuickReplyPrompt",
    "QuickReplySet",
    "CAMPAIGN_STATUSES",
    "CHANNEL_PROVIDERS",
    "CONSENT_SOURCES",
    "CONSENT_STATUSES",
    "CONVERSATION_EVENT_KINDS",
    "CONVERSATION_STATUSES",
    "EXCHANGE_DIRECTIONS",
    "INBOUND_STATUSES",
    "MESSAGE_DIRECTIONS",
    "MESSAGE_SOURCES",
    "NAMING_CONVENTION",
    "OUTBOUND_STATUSES",
    "RECIPIENT_STATUSES",
    "TOPIC_KINDS",
    "USER_ROLES",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Booking",
    "BookingSlot",
    "Campaign",
    "CampaignRecipient",
    "CannedReply",
    "Channel",
    "Consent",
    "ConsentEvent",
    "Contact",
    "Conversation",
    "ConversationEvent",
    "ConversationNote",
    "CsatResponse",
    "FaqEntry",
    "IdempotencyKey",
    "LinkClick",
    "Message",
    "MessageStatusEvent",
    "ProviderExchange",
    "Segment",
    "ServiceSettings",
    "ShortLink",
    "Team",
    "TeamMember",
    "Template",
    "Topic",
    "UTCDateTime",
    "User",
    "WEBHOOK_EVENT_KINDS",
    "WebhookEvent",
    "Workspace",
    "utc_now",
]
