"""Contact CSV import: normalization, rejected rows with line numbers, consent, idempotence, duplicates."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.consent.service import current_consents
from mannerly.contacts import importer
from mannerly.contacts.importer import import_contacts
from mannerly.errors import ProblemError
from mannerly.models import ConsentEvent, Contact, Topic, Workspace
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_workspace

DATA = Path(__file__).parent / "data"


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session on the test database."""
    with runtime.session() as session:
        yield session


@pytest.fixture
def workspace(session: Session, runtime: Runtime) -> Workspace:
    """A workspace without a default country, with a marketing topic."""
    workspace = create_workspace(session, "Shop")
    session.add(Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing",
                      keyword="PROMO", created_at=runtime.now()))
    session.commit()
    return workspace


def run_import(session: Session, workspace: Workspace, runtime: Runtime, name: str, **options):
    """Import one fixture file (opened in binary, as an upload would be) and commit."""
    with (DATA / name).open("rb") as handle:
        report = import_contacts(session, workspace, handle, runtime.now(), actor="tester", **options)
    session.commit()
    return report


def contacts_by_phone(session: Session, workspace: Workspace) -> dict[str, Contact]:
    """Every contact of the workspace by E.164 number."""
    rows = session.scalars(select(Contact).where(Contact.workspace_id == workspace.id))
    return {row.phone: row for row in rows}


def consent_event_count(session: Session) -> int:
    """How many consent events exist."""
    return session.scalar(select(func.count()).select_from(ConsentEvent))


# (E.164, name, first name, language, country, time zone, tags, attributes)
GOOD_ROWS = [
    ("+821023456789", "김민준", "민준", "ko", "KR", None, ["vip", "seoul"], {"customer_no": "C-001"}),
    ("+6281234567890", "Budi Santoso", "Budi", "id", "ID", "Asia/Makassar", ["bandung", "reseller"],
     {"customer_no": "C-002"}),
    ("+306941234567", "Γιώργος Παπαδόπουλος", "Γιώργος", "el", "GR", None, [], {"customer_no": "C-003"}),
    ("+13055550123", "Maria Lopez", "Maria", "en", "US", None, [], {"customer_no": "C-004"}),
]


def test_good_rows_are_normalized_and_stored(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "good.csv")
    assert (report.imported, report.updated, report.unchanged, report.rejected) == (4, 0, 0, [])
    contacts = contacts_by_phone(session, workspace)
    assert sorted(contacts) == sorted(row[0] for row in GOOD_ROWS)
    for e164, name, first_name, language, country, time_zone, tags, attributes in GOOD_ROWS:
        contact = contacts[e164]
        assert (contact.name, contact.first_name, contact.language) == (name, first_name, language)
        assert (contact.country, contact.time_zone) == (country, time_zone)
        assert contact.tags == tags
        assert contact.attributes == attributes
    assert contacts["+13055550123"].subdivision == "FL"


def test_consent_columns_record_events_with_evidence(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "good.csv")
    assert report.consent_events == 3  # yes, no, yes; the empty cell states nothing
    contacts = contacts_by_phone(session, workspace)
    assert current_consents(session, contacts["+821023456789"]) == {"promotions": "opted_in"}
    assert current_consents(session, contacts["+6281234567890"]) == {"promotions": "opted_out"}
    assert current_consents(session, contacts["+13055550123"]) == {}
    events = session.scalars(select(ConsentEvent)).all()
    assert {(event.source, event.actor, event.wording) for event in events} == {
        ("import", "tester", "imported from good.csv")}
    # An opt-in is a relationship: the contact is no longer cold.
    assert contacts["+821023456789"].prior_relationship_at is not None


def test_importing_the_same_file_twice_changes_nothing(session, workspace, runtime):
    run_import(session, workspace, runtime, "good.csv")
    before = {phone: (c.updated_at, c.name, list(c.tags), dict(c.attributes))
              for phone, c in contacts_by_phone(session, workspace).items()}
    events_before = consent_event_count(session)
    runtime.clock.advance(hours=1)
    report = run_import(session, workspace, runtime, "good.csv")
    assert (report.imported, report.updated, report.unchanged, report.consent_events) == (0, 0, 4, 0)
    assert consent_event_count(session) == events_before
    after = {phone: (c.updated_at, c.name, list(c.tags), dict(c.attributes))
             for phone, c in contacts_by_phone(session, workspace).items()}
    assert after == before


# (line, words the reason must contain); the header is line 1
BROKEN_ROWS = [
    (3, "no country"),
    (4, "unknown time zone 'Asia/Atlantis'"),
    (5, "expected 5 fields, found 2"),
    (6, "'greek' is not a language code"),
    (7, "'maybe' in column 'consent:promotions' is not a consent value"),
    (8, "no phone number"),
    (9, "expected 5 fields, found 6"),
]


def test_broken_rows_are_rejected_with_their_line_and_the_rest_imported(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "broken.csv")
    assert [row.line for row in report.rejected] == [line for line, _ in BROKEN_ROWS]
    for rejected, (_line, words) in zip(report.rejected, BROKEN_ROWS, strict=True):
        assert words in rejected.reason
    assert report.imported == 2
    assert sorted(contacts_by_phone(session, workspace)) == ["+12125550199", "+821023456789"]
    assert report.rejected[0].raw["name"] == "No Country"
    assert report.rows == 9


def test_duplicate_numbers_merge_into_the_earlier_row(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "duplicates.csv")
    assert report.imported == 2
    assert [(row.line, row.into_line, row.phone) for row in report.merged] == [
        (3, 2, "+821023456789"), (5, 4, "+6281234567890")]
    contacts = contacts_by_phone(session, workspace)
    kim = contacts["+821023456789"]
    # The earlier row's values win; the later row fills what it left empty; tags are combined.
    assert kim.name == "김민준"
    assert kim.language == "ko"
    assert kim.tags == ["vip", "seoul"]
    assert kim.attributes == {"city": "Seoul"}
    assert current_consents(session, kim) == {"promotions": "opted_in"}
    budi = contacts["+6281234567890"]
    assert (budi.name, budi.language, budi.tags, budi.attributes) == ("Budi", "id", ["reseller"],
                                                                      {"city": "Bandung"})
    again = run_import(session, workspace, runtime, "duplicates.csv")
    assert (again.imported, again.updated, again.unchanged, again.consent_events) == (0, 0, 2, 0)


def test_byte_order_mark_and_crlf_are_handled(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "bom.csv")
    assert (report.imported, report.rejected) == (1, [])
    assert contacts_by_phone(session, workspace)["+306975551234"].name == "Ελένη"


def test_semicolons_and_korean_headers_with_the_workspace_default_country(session, runtime):
    workspace = create_workspace(session, "서울상점", default_country="KR", default_language="ko")
    session.commit()
    report = run_import(session, workspace, runtime, "korean_semicolon.csv")
    assert (report.imported, report.rejected) == (2, [])
    contacts = contacts_by_phone(session, workspace)
    assert contacts["+821098765432"].name == "이서연"
    assert contacts["+821098765432"].attributes == {"등급": "골드"}
    assert contacts["+821012345678"].language == "ko"  # from the country when the cell is empty


def test_quoted_line_breaks_keep_line_numbers_right(session, workspace, runtime):
    report = run_import(session, workspace, runtime, "multiline.csv")
    assert [row.line for row in report.rejected] == [4]
    assert contacts_by_phone(session, workspace)["+821023456789"].attributes == {"note": "first line\nsecond line"}


NATIONAL_NUMBERS = [
    ("KR", "010-2345-6789", "+821023456789"),
    ("KR", "02-312-3456", "+8223123456"),
    ("ID", "0812 3456 7890", "+6281234567890"),
    ("ID", "(021) 5794 2222", "+622157942222"),
    ("GR", "694 123 4567", "+306941234567"),
    ("GR", "210 323 4567", "+302103234567"),
    ("US", "(305) 555-0123", "+13055550123"),
]


@pytest.mark.parametrize(("country", "national", "e164"), NATIONAL_NUMBERS)
def test_national_numbers_use_the_country_column(session, workspace, runtime, country, national, e164):
    lines = ["phone,country", f'"{national}",{country}']
    report = import_contacts(session, workspace, lines, runtime.now())
    assert report.rejected == []
    assert list(contacts_by_phone(session, workspace)) == [e164]


def test_existing_contacts_are_updated_and_empty_cells_change_nothing(session, workspace, runtime):
    import_contacts(session, workspace, ["phone,name,language,tags,vip", "+821023456789,Kim,ko,a,gold"],
                    runtime.now())
    session.commit()
    runtime.clock.advance(minutes=5)
    report = import_contacts(session, workspace, ["phone,name,language,tags,city", "+821023456789,Kim Minjun,,b,Seoul"],
                             runtime.now())
    session.commit()
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 0)
    kim = contacts_by_phone(session, workspace)["+821023456789"]
    assert (kim.name, kim.language, kim.tags) == ("Kim Minjun", "ko", ["a", "b"])
    assert kim.attributes == {"vip": "gold", "city": "Seoul"}
    assert kim.updated_at == runtime.now()


def test_global_opt_out_column(session, workspace, runtime):
    lines = ["phone,consent:all", "+821023456789,no", "+6281234567890,yes"]
    report = import_contacts(session, workspace, lines, runtime.now())
    assert report.consent_events == 1  # opting "in" globally when never opted out is not a change
    contacts = contacts_by_phone(session, workspace)
    assert contacts["+821023456789"].global_opt_out is True
    assert contacts["+6281234567890"].global_opt_out is False


FILE_PROBLEMS = [
    (b"phone,name\n+821023456789,Kim\n+821098765432,\xb1\xe8\n", "not UTF-8"),
    (b"", "empty"),
    ((DATA / "no_phone_column.csv").read_bytes(), "no phone column"),
    (b"phone,consent:newsletter\n+821023456789,yes\n", "no topic 'newsletter'"),
    (b"phone,mobile\n+821023456789,+821023456789\n", "mean the same thing"),
]


@pytest.mark.parametrize(("content", "words"), FILE_PROBLEMS)
def test_unusable_files_are_a_422_and_import_nothing(session, workspace, runtime, content, words):
    with pytest.raises(ProblemError) as raised:
        import_contacts(session, workspace, io.BytesIO(content), runtime.now())
    session.rollback()
    assert raised.value.status == 422
    assert words in raised.value.detail
    assert contacts_by_phone(session, workspace) == {}


def test_text_file_opened_in_another_encoding_is_a_422(session, workspace, runtime, tmp_path):
    path = tmp_path / "euc-kr.csv"
    path.write_bytes("phone,name\n+821023456789,김민준\n".encode("euc-kr"))
    with path.open(encoding="utf-8") as handle, pytest.raises(ProblemError, match="not UTF-8"):
        import_contacts(session, workspace, handle, runtime.now())


def test_large_files_go_in_chunks_with_duplicates_across_chunks(session, workspace, runtime, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_SIZE", 50)
    numbers = [f"+8210{23450000 + index:08d}" for index in range(300)]
    lines = ["phone,name,consent:promotions"]
    lines += [f"{number},Person {index},yes" for index, number in enumerate(numbers)]
    lines += [f"{numbers[0]},Someone Else,no", f"{numbers[1]},,"]  # repeats, far from their first rows
    progress: list[int] = []

    def commit_chunk(lines_read: int) -> None:
        """Commit like the CLI does, and note how far the import got."""
        session.commit()
        progress.append(lines_read)

    report = import_contacts(session, workspace, lines, runtime.now(), on_progress=commit_chunk)
    session.commit()
    assert (report.imported, len(report.merged), report.consent_events) == (300, 2, 300)
    assert [(row.line, row.into_line) for row in report.merged] == [(302, 2), (303, 3)]
    assert progress == sorted(progress) and len(progress) >= 6 and progress[-1] == 303
    first = contacts_by_phone(session, workspace)[numbers[0]]
    assert first.name == "Person 0"
    assert current_consents(session, first) == {"promotions": "opted_in"}
    runtime.clock.advance(timedelta(days=1))
    again = import_contacts(session, workspace, lines, runtime.now())
    assert (again.unchanged, again.updated, again.consent_events) == (300, 0, 0)
