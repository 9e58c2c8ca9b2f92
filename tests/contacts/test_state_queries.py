"""gather_contact_states: which earlier messages count, and that SQLite reads them by contact, not by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, select

from mannerly.contacts.state import CHUNK, gather_contact_states
from mannerly.models import Contact, Message, Workspace
from mannerly.policy.types import Policy
from mannerly.workspaces.service import create_workspace

NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=90)
RECENT = NOW - timedelta(hours=2)


def _contact(session, workspace: Workspace, number: int) -> Contact:
    """A Korean contact with a unique number."""
    contact = Contact(workspace_id=workspace.id, phone=f"+8210200000{number:02d}", country="KR", language="ko",
                      created_at=OLD, updated_at=OLD)
    session.add(contact)
    session.flush()
    return contact


def _message(session, contact: Contact, *, created_at: datetime, send_at: datetime | None, status: str = "sent",
             text: str = "hello") -> None:
    """An outbound API message of the contact."""
    session.add(Message(workspace_id=contact.workspace_id, contact_id=contact.id, direction="outbound", source="api",
                        body=text, final_text=text, status=status, created_at=created_at, send_at=send_at,
                        sent_at=None, updated_at=created_at))


def test_recent_messages_count_by_send_time_or_creation_time(runtime):
    """A message counts as recent when it was created or is due within the lookback; older ones only as contact."""
    with runtime.session() as session:
        workspace = create_workspace(session, "State Shop")
        unsent_recent, due_old, due_recent, both_old, failed_recent, silent = (
            _contact(session, workspace, number) for number in range(6))
        _message(session, unsent_recent, created_at=RECENT, send_at=None, status="pending", text="a")
        _message(session, due_old, created_at=RECENT, send_at=OLD, status="deferred", text="b")
        _message(session, due_recent, created_at=OLD, send_at=RECENT, status="pending", text="c")
        _message(session, both_old, created_at=OLD, send_at=OLD, text="d")
        _message(session, failed_recent, created_at=RECENT, send_at=RECENT, status="failed", text="e")
        session.flush()
        contacts = [unsent_recent, due_old, due_recent, both_old, failed_recent, silent]
        states = gather_contact_states(session, contacts, Policy(), NOW, channel_kinds=frozenset({"sms"}))
    assert [record.final_text for record in states[unsent_recent.id].recent_outbound] == ["a"]
    assert [record.final_text for record in states[due_old.id].recent_outbound] == ["b"]
    assert [record.final_text for record in states[due_recent.id].recent_outbound] == ["c"]
    assert states[both_old.id].recent_outbound == ()
    assert states[both_old.id].contacted_before
    assert states[failed_recent.id].recent_outbound == ()
    assert not states[failed_recent.id].contacted_before
    assert not states[silent.id].contacted_before


def test_zones_of_replaces_the_phone_number_zones(runtime):
    """A caller that knows the zones already (the campaign planner) passes them, and the state carries them."""
    with runtime.session() as session:
        workspace = create_workspace(session, "Zone Shop")
        contact = _contact(session, workspace, 1)
        plain = gather_contact_states(session, [contact], Policy(), NOW, channel_kinds=frozenset({"sms"}))
        given = gather_contact_states(session, [contact], Policy(), NOW, channel_kinds=frozenset({"sms"}),
                                      zones_of=lambda _contact: ("Europe/Athens",))
    assert plain[contact.id].time_zones == ("Asia/Seoul",)
    assert given[contact.id].time_zones == ("Europe/Athens",)


def test_sqlite_reads_earlier_messages_by_contact_not_by_status(runtime):
    """No state query walks the (status, send_at) index: that reads every queued message of every contact."""
    with runtime.session() as session:
        workspace = create_workspace(session, "Plan Shop")
        # A full chunk of contacts: with a handful SQLite picks the contact index either way.
        session.execute(insert(Contact), [
            {"workspace_id": workspace.id, "phone": f"+82102{number:07d}", "country": "KR", "created_at": OLD,
             "updated_at": OLD} for number in range(CHUNK)])
        contacts = list(session.scalars(select(Contact).where(Contact.workspace_id == workspace.id)))
        for contact in contacts[:50]:
            _message(session, contact, created_at=RECENT, send_at=RECENT, status="deferred")
        session.flush()
        statements: list[tuple[str, object]] = []
        engine = session.get_bind()

        def remember(_connection, _cursor, statement, parameters, _context, _executemany):
            """Keep each SELECT on messages with its parameters."""
            if statement.startswith("SELECT") and "FROM messages" in statement:
                statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", remember)
        try:
            gather_contact_states(session, contacts, Policy(), NOW, channel_kinds=frozenset({"sms"}))
            # The same by id range (a planning batch): one statement per table for all of them.
            gather_contact_states(session, contacts, Policy(), NOW, channel_kinds=frozenset({"sms"}),
                                  id_range=(contacts[0].id - 1, contacts[-1].id))
        finally:
            event.remove(engine, "before_cursor_execute", remember)
        assert len(statements) == 6 and sum("messages.contact_id IN" in text for text, _ in statements) == 3
        connection = session.connection()
        for statement, parameters in statements:
            plan = " | ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                             parameters))
            assert "ix_messages_status_send_at" not in plan, plan
            assert "ix_messages_contact_id" in plan, plan


def test_reading_by_id_range_gives_the_same_states_as_by_ids(runtime):
    """A dense planning batch is read by id range; contacts in the range but not in the batch are ignored."""
    from mannerly.consent.service import record_consent
    from mannerly.models import Topic

    with runtime.session() as session:
        workspace = create_workspace(session, "Range Shop")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing")
        session.add(topic)
        contacts = [_contact(session, workspace, number) for number in range(12)]
        for index, contact in enumerate(contacts):
            if index % 3 == 0:
                record_consent(session, contact, topic, "opted_in", source="import", actor="test", now=OLD)
            if index % 4 == 1:
                record_consent(session, contact, topic, "opted_out", source="keyword", actor="customer", now=OLD)
            if index % 2 == 0:
                _message(session, contact, created_at=RECENT, send_at=RECENT, status="deferred", text=f"m{index}")
            if index % 5 == 0:
                _message(session, contact, created_at=OLD, send_at=OLD, status="delivered", text=f"old{index}")
        session.flush()
        batch = [contact for index, contact in enumerate(contacts) if index != 4]  # 4 is in the range, not the batch
        kinds = frozenset({"sms"})
        by_ids = gather_contact_states(session, batch, Policy(), NOW, channel_kinds=kinds)
        by_range = gather_contact_states(session, batch, Policy(), NOW, channel_kinds=kinds,
                                         id_range=(contacts[0].id - 1, contacts[-1].id))
    assert by_range == by_ids and set(by_range) == {contact.id for contact in batch}
    assert by_ids[contacts[0].id].prior_relationship and by_ids[contacts[0].id].recent_outbound
    assert by_ids[contacts[5].id].contacted_before and not by_ids[contacts[5].id].recent_outbound
    assert by_ids[contacts[1].id].consents == {"promotions": by_ids[contacts[1].id].consents["promotions"]}
