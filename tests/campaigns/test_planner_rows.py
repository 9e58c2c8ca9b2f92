"""The outbox rows the planner writes as plain tuples read back as the ORM would have written them."""

from __future__ import annotations

from sqlalchemy import select

from mannerly.models import CampaignRecipient, ShortLink
from tests.campaigns.helpers import START
from tests.campaigns.test_campaigns import campaign_rows, launch, new_campaign, plan


def test_planned_rows_carry_each_recipient_s_final_text_decision_and_request(runtime, shop):
    """Per message: the stored decision holds the message's own final text (its own link code), the request
    says which campaign it came from, timestamps read back as aware UTC moments."""
    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    result = plan(runtime, campaign_id)
    messages = campaign_rows(runtime, campaign_id)
    assert result.queued == len(messages) == 6
    with runtime.session() as session:
        codes = dict(session.execute(select(ShortLink.message_id, ShortLink.code)
                                     .where(ShortLink.campaign_id == campaign_id)).all())
        recipients = dict(session.execute(select(CampaignRecipient.contact_id, CampaignRecipient.message_id)
                                          .where(CampaignRecipient.campaign_id == campaign_id)).all())
    assert len(set(codes.values())) == 6
    for message in messages:
        assert message.decision["final_text"] == message.final_text
        assert message.final_text.endswith(codes[message.id]) or f"/l/{codes[message.id]}" in message.final_text
        assert "xxxxxxxxxx" not in message.final_text
        assert message.decision["action"] in ("send", "defer")
        assert set(message.decision) == {"action", "send_at", "local_send_at", "channel", "final_text", "reasons",
                                         "lint", "segments", "encoding", "channel_options"}
        assert message.request == {"channel": None, "reply": False, "whatsapp_template": None,
                                   "whatsapp_parameters": [], "language": message.request["language"],
                                   "campaign_id": campaign_id}
        assert message.request["language"] in ("ko", "id", "el")
        assert message.created_at == START and message.send_at >= START
        assert message.status == ("deferred" if message.send_at > START else "pending")
        assert recipients[message.contact_id] == message.id
        assert message.redacted is False and message.attempts == 0


def test_planning_marks_queued_contacts_as_written_to_like_any_stored_message(runtime, shop):
    """last_outbound_at is set for the contacts who get a message (not the excluded ones), so a segment on it
    sees the campaign. The engine's caps and cold-contact rule read the messages themselves, not this column."""
    from mannerly.models import Contact
    from mannerly.segments.service import compiled_for, count_matching

    campaign_id = new_campaign(runtime, shop)
    launch(runtime, campaign_id)
    result = plan(runtime, campaign_id, batch_size=3)
    with runtime.session() as session:
        touched = dict(session.execute(select(Contact.id, Contact.last_outbound_at)).all())
        queued = set(session.scalars(select(CampaignRecipient.contact_id).where(CampaignRecipient.status == "queued")))
        recently = compiled_for(session, shop.workspace_id,
                                {"field": "last_outbound_at", "op": "within_days", "value": 1}, START)
        assert count_matching(session, recently) == result.queued == 6
    assert {contact_id for contact_id, moment in touched.items() if moment is not None} == queued
    assert {touched[contact_id] for contact_id in queued} == {START}


def test_attributes_are_read_as_text_and_decoded_only_when_they_hold_a_variable_of_the_template(runtime):
    """A template reading {{ city }}: each contact's own city; an attribute named first_name still overrides
    the column; a contact without the attribute is excluded (nothing to fill it with), as before."""
    from tests.campaigns.helpers import Person, make_shop

    people = [Person("+306900000021", "en", "Nick", attributes={"city": "Athens", "age": 30}),
              Person("+306900000022", "en", "Anna", attributes={"first_name": "Anastasia", "city": "Patras"}),
              Person("+306900000023", "en", "Eleni", attributes={"age": 41}),
              Person("+306900000024", "en", "Maria", attributes={"city": "Βόλος"})]
    shop = make_shop(runtime, people, body="Hi {{ first_name }} in {{ city }}: 20% off at https://shop.example/sale")
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    result = plan(runtime, campaign_id)
    assert (result.queued, dict(result.excluded)) == (3, {"template": 1})
    texts = sorted(message.body for message in campaign_rows(runtime, campaign_id))
    assert [text.split(":")[0] for text in texts] == ["Hi Anastasia in Patras", "Hi Maria in Βόλος",
                                                      "Hi Nick in Athens"]
