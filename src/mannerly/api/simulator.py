"""The simulator channel's customer side (C5): write as a customer, read a simulated phone."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from mannerly.api.deps import NowDep, RuntimeDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import PhoneMessageOut, SimulatedInboundIn, SimulatedInboundOut
from mannerly.contacts.service import parse_contact_phone
from mannerly.errors import ProblemError
from mannerly.inbound.pipeline import receive_message
from mannerly.models import Channel

router = APIRouter(prefix="/v1/simulator", tags=["simulator"])


def simulator_channel(session, workspace_id: int, kind: str) -> Channel:
    """The workspace's enabled simulator channel of a kind, or a 422 saying there is none."""
    channel = session.scalar(select(Channel).where(
        Channel.workspace_id == workspace_id, Channel.provider == "simulator", Channel.kind == kind,
        Channel.enabled.is_(True)).order_by(Channel.id))
    if channel is None:
        raise ProblemError(422, "No simulator channel", f"this workspace has no enabled simulator {kind} channel")
    return channel


@router.post("/inbound", response_model=SimulatedInboundOut, summary="Send a message as a simulated customer")
def post_inbound(body: SimulatedInboundIn, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep,
                 now: NowDep) -> SimulatedInboundOut:
    """A customer's phone writes to the business: the message runs through the real inbound pipeline."""
    channel = simulator_channel(session, workspace.id, body.channel)
    phone = parse_contact_phone(body.from_, workspace.default_country, "from")
    adapter = runtime.channels.adapter_for(channel, runtime)
    event = adapter.receive_from_phone(phone.e164, body.text, now)
    received = receive_message(session, workspace, channel, event, now)
    session.commit()
    keyword = received.keyword
    return SimulatedInboundOut(
        message_id=received.message.id, contact_id=received.message.contact_id,
        conversation_id=received.message.conversation_id, duplicate=received.duplicate,
        keyword=keyword.kind.value if keyword else None, keyword_topic=keyword.topic if keyword else None,
        confirmation_message_id=received.confirmation.id if received.confirmation else None,
    )


@router.get("/phones/{phone}", response_model=list[PhoneMessageOut], summary="What a simulated phone shows")
def get_phone(phone: str, session: SessionDep, runtime: RuntimeDep, workspace: WorkspaceDep,
              now: NowDep) -> list[PhoneMessageOut]:
    """The messages a simulated phone has exchanged so far with this workspace's simulator channels."""
    number = parse_contact_phone(phone, workspace.default_country, "phone")
    # The simulated network is shared by every workspace: show only what went through this one's channels.
    own_channels = set(session.scalars(select(Channel.id).where(Channel.workspace_id == workspace.id)))
    return [PhoneMessageOut(direction=item.direction, text=item.text, at=item.at, channel=item.channel_kind,
                            provider_message_id=item.provider_message_id)
            for item in runtime.simulator.phone_thread(number.e164, now) if item.channel_key in own_channels]
