"""Contact import from CSV (SPEC X7): normalize phones to E.164, merge duplicates, report rejected rows.

The importer reads rows from any iterable of text or byte lines (an open file, an uploaded
file, a list of strings) and writes through the session it is given; it never opens files
and never commits. Large files are handled in chunks: existing contacts are looked up with
one query per chunk, and `on_progress` is called after each chunk is flushed so the caller
can commit and show progress.

Rules, in the order they matter to users:
- the header row is required and must have a phone column; line numbers count it as line 1;
- a row that cannot be used (bad number, bad time zone, wrong number of fields ...) is
  rejected on its own with its line number and reason; the other rows are still imported;
- a phone number seen earlier in the same file is merged into that earlier row: the earlier
  row's values win, the later row fills what the earlier one left empty, tags are combined;
- values in the file overwrite the contact's stored values, empty cells change nothing,
  tags are added (never removed), and attributes are merged key by key;
- consent columns (`consent:<topic>`, `consent:all` for the global opt-out) record a consent
  event only when the contact's current consent differs, so importing a file twice changes
  nothing the second time.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.consent.service import ConsentChange, record_consents
from mannerly.contacts.service import build_contact, check_language, check_time_zone, parse_contact_phone
from mannerly.errors import FieldError, ProblemError
from mannerly.kit.phones import PhoneInfo
from mannerly.models import Consent, Contact, Topic, Workspace

# Rows handled per database round trip; also how often on_progress is called.
CHUNK_SIZE = 500
NAME_MAX_LENGTH = 200
FIRST_NAME_MAX_LENGTH = 100
GLOBAL_CONSENT_COLUMN = "all"

# Header spellings (compared case-insensitively, spaces/dashes read as "_") -> field.
COLUMN_ALIASES: dict[str, str] = {
    "phone": "phone", "phone_number": "phone", "mobile": "phone", "mobile_number": "phone",
    "cell": "phone", "msisdn": "phone", "telephone": "phone", "tel": "phone", "number": "phone",
    "nomor": "phone", "nomor_hp": "phone", "no_hp": "phone", "hp": "phone", "nomor_telepon": "phone",
    "전화번호": "phone", "휴대폰": "phone", "휴대폰번호": "phone", "휴대전화": "phone", "연락처": "phone",
    "τηλέφωνο": "phone", "κινητό": "phone",
    "name": "name", "full_name": "name", "nama": "name", "이름": "name", "성명": "name", "όνομα": "name",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name",
    "nama_depan": "first_name",
    "language": "language", "lang": "language", "bahasa": "language", "언어": "language",
    "γλώσσα": "language",
    "country": "country", "country_code": "country", "negara": "country", "국가": "country",
    "χώρα": "country",
    "time_zone": "time_zone", "timezone": "time_zone", "tz": "time_zone",
    "tags": "tags", "tag": "tags", "label": "tags", "labels": "tags",
}  # fmt: skip

# Consent cell values (lower-cased) -> status; an empty cell means "not stated".
CONSENT_VALUES: dict[str, str] = {
    "yes": "opted_in", "y": "opted_in", "true": "opted_in", "1": "opted_in", "opted_in": "opted_in",
    "opt_in": "opted_in", "in": "opted_in", "ya": "opted_in", "네": "opted_in", "예": "opted_in",
    "동의": "opted_in", "ναι": "opted_in",
    "no": "opted_out", "n": "opted_out", "false": "opted_out", "0": "opted_out",
    "opted_out": "opted_out", "opt_out": "opted_out", "out": "opted_out", "tidak": "opted_out",
    "아니오": "opted_out", "거부": "opted_out", "όχι": "opted_out",
}  # fmt: skip

SIMPLE_FIELDS = ("name", "first_name", "language", "time_zone")


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported: its line in the file, why, and its cells by column."""

    line: int
    reason: str
    raw: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form for the API."""
        return {"line": self.line, "reason": self.reason, "raw": self.raw}


@dataclass(frozen=True)
class MergedRow:
    """A row whose phone number appeared earlier in the file; it was merged into that row."""

    line: int
    into_line: int
    phone: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form for the API."""
        return {"line": self.line, "into_line": self.into_line, "phone": self.phone}


@dataclass
class ImportReport:
    """What an import did: contacts created, changed and untouched, merged and rejected rows."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    merged: list[MergedRow] = field(default_factory=list)
    consent_events: int = 0
    rows: int = 0  # data rows read (blank lines not counted)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form for the API."""
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": [row.as_dict() for row in self.merged],
            "rejected": [row.as_dict() for row in self.rejected],
            "consent_events": self.consent_events,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class Columns:
    """The meaning of each column of the file's header."""

    names: tuple[str, ...]  # as written in the header (stripped)
    fields: dict[int, str]  # column index -> recognised field
    consents: dict[int, Topic | None]  # column index -> topic (None = global opt-out)
    attributes: dict[int, str]  # column index -> attribute key


@dataclass
class ParsedRow:
    """One usable data row, validated and normalized."""

    line: int
    phone: PhoneInfo
    values: dict[str, str]  # name / first_name / language / time_zone, only non-empty ones
    tags: list[str]
    attributes: dict[str, str]
    consents: dict[int | None, tuple[Topic | None, str]]  # topic id (None = global) -> (topic, status)

    def keys(self) -> frozenset[str]:
        """Everything this row states, so a later duplicate only fills in the rest."""
        return frozenset(
            [f"field:{name}" for name in self.values]
            + [f"attr:{key}" for key in self.attributes]
            + [f"consent:{topic_id}" for topic_id in self.consents]
        )


def file_problem(detail: str) -> ProblemError:
    """A 422 for a file that cannot be imported at all."""
    return ProblemError(422, "Invalid CSV file", detail, [FieldError("file", detail)])


def import_contacts(
    session: Session,
    workspace: Workspace,
    rows: Iterable[str] | Iterable[bytes],
    now: datetime,
    *,
    on_progress: Callable[[int], None] | None = None,
    source_name: str | None = None,
    actor: str = "import",
) -> ImportReport:
    """Import contacts from CSV lines into a workspace; the caller commits (it may do so in on_progress).

    `on_progress(lines_read)` is called after each chunk has been flushed. Raises a 422
    ProblemError when the file as a whole is unusable (not UTF-8, no header, no phone column,
    a consent column for an unknown topic); rows already flushed are then the caller's to roll back.
    """
    name = source_name or _file_name(rows)
    wording = f"imported from {name}" if name else "imported from a CSV file"
    lines = _decoded_lines(rows)
    first_line = next(lines, None)
    if first_line is None:
        raise file_problem("the file is empty: a header row with a phone column is needed")
    delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(_chain_first(first_line, lines), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as error:
        raise file_problem(f"the header row cannot be read: {error}") from error
    columns = read_header(session, workspace, header)
    importer = _ChunkImporter(session, workspace, columns, now, wording=wording, actor=actor)
    report = importer.report
    chunk: list[ParsedRow] = []
    for line, cells, csv_error in _records(reader):
        if csv_error is None and not any(cell.strip() for cell in cells or []):
            continue  # blank lines are not rows
        report.rows += 1
        parsed = parse_row(columns, workspace, line, cells, report, csv_error=csv_error)
        if parsed is not None:
            chunk.append(parsed)
        if len(chunk) >= CHUNK_SIZE:
            importer.apply(chunk)
            chunk = []
            if on_progress is not None:
                on_progress(line)
    importer.apply(chunk)
    if on_progress is not None:
        on_progress(reader.line_num)
    return report


def _file_name(rows: object) -> str | None:
    """The base name of an open file (`name` attribute), if the rows come from one."""
    name = getattr(rows, "name", None)
    if isinstance(name, str) and name and not name.startswith("<"):
        return PurePath(name).name
    return None


def _decoded_lines(rows: Iterable[str] | Iterable[bytes]) -> Iterator[str]:
    """Text lines from text or UTF-8 byte lines, without a leading BOM; 422 on bad UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    line_number = 0
    iterator = iter(rows)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            break
        except UnicodeDecodeError as error:
            # A text-mode file opened as UTF-8 fails while reading.
            raise file_problem(_not_utf8(line_number + 1)) from error
        line_number += 1
        if isinstance(item, bytes | bytearray):
            try:
                text = decoder.decode(bytes(item))
            except UnicodeDecodeError as error:
                raise file_problem(_not_utf8(line_number)) from error
        else:
            text = item
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise file_problem(_not_utf8(line_number)) from error


def _not_utf8(line: int) -> str:
    """The message for a file in another encoding."""
    return (f"the file is not UTF-8 text (first bad byte on line {line}); "
            "save it as 'CSV UTF-8' and import it again")


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    """The first line followed by the rest."""
    yield first
    yield from rest


def _sniff_delimiter(header_line: str) -> str:
    """Comma, unless the header clearly uses semicolons or tabs (spreadsheets in some locales do)."""
    if "," in header_line:
        return ","
    for candidate in (";", "\t", "|"):
        if candidate in header_line:
            return candidate
    return ","


def _records(reader: Any) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line where the record starts, cells, None), or (line, None, error) for a record the csv module refused."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield start, None, str(error)
            continue
        yield start, cells, None


def normalize_header(name: str) -> str:
    """A header cell as compared with the aliases: trimmed, lower-case, spaces and dashes as '_'."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def read_header(session: Session, workspace: Workspace, header: list[str]) -> Columns:
    """Work out what each column means; 422 when the header cannot be used."""
    names = tuple(cell.strip() for cell in header)
    if not any(names):
        raise file_problem("the first row must be a header naming the columns, e.g. phone,name,language")
    topics = {topic.name.lower(): topic for topic in
              session.scalars(select(Topic).where(Topic.workspace_id == workspace.id))}
    fields: dict[int, str] = {}
    consents: dict[int, Topic | None] = {}
    attributes: dict[int, str] = {}
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        key = normalize_header(name)
        if not key:
            continue
        if key.startswith("consent:"):
            topic_name = key.removeprefix("consent:").strip("_")
            if topic_name == GLOBAL_CONSENT_COLUMN:
                consents[index] = None
            elif topic_name in topics:
                consents[index] = topics[topic_name]
            else:
                known = ", ".join(sorted(topics)) or "none"
                raise file_problem(f"column '{name}': no topic '{topic_name}' in this workspace "
                                   f"(known topics: {known}; use consent:all for the global opt-out)")
            meaning = f"consent:{topic_name}"
        elif key in COLUMN_ALIASES:
            meaning = COLUMN_ALIASES[key]
            fields[index] = meaning
        else:
            meaning = f"attribute:{key}"
            attributes[index] = name
        if meaning in seen:
            raise file_problem(f"columns '{seen[meaning]}' and '{name}' mean the same thing; keep one")
        seen[meaning] = name
    if "phone" not in fields.values():
        raise file_problem("no phone column: name one of the columns 'phone' "
                           "(also understood: mobile, phone_number, nomor, 전화번호)")
    return Columns(names=names, fields=fields, consents=consents, attributes=attributes)


def parse_row(columns: Columns, workspace: Workspace, line: int, cells: list[str] | None,
              report: ImportReport, *, csv_error: str | None = None) -> ParsedRow | None:
    """Validate one record; a problem is added to the report as a rejected row and None returned."""
    if cells is None:
        report.rejected.append(RejectedRow(line, f"the row cannot be read as CSV: {csv_error}", {}))
        return None
    raw = _raw_cells(columns, cells)
    if len(cells) != len(columns.names):
        reason = f"expected {len(columns.names)} fields, found {len(cells)}"
        report.rejected.append(RejectedRow(line, reason, raw))
        return None
    try:
        return _parse_cells(columns, workspace, line, cells)
    except ProblemError as error:
        report.rejected.append(RejectedRow(line, _reason(error), raw))
        return None


def _raw_cells(columns: Columns, cells: list[str]) -> dict[str, str]:
    """The row's cells by header name (extra cells get numbered names)."""
    raw: dict[str, str] = {}
    for index, value in enumerate(cells):
        name = columns.names[index] if index < len(columns.names) else f"column {index + 1}"
        raw[name or f"column {index + 1}"] = value
    return raw


def _reason(error: ProblemError) -> str:
    """The plain explanation of a row problem (field errors carry the precise message)."""
    if error.errors:
        return "; ".join(item.message for item in error.errors)
    return error.detail


def _parse_cells(columns: Columns, workspace: Workspace, line: int, cells: list[str]) -> ParsedRow:
    """Turn one row's cells into a ParsedRow, or raise a ProblemError saying what is wrong."""
    values: dict[str, str] = {}
    tags: list[str] = []
    phone_text = ""
    country: str | None = None
    for index, meaning in columns.fields.items():
        cell = cells[index].strip()
        if not cell:
            continue
        if meaning == "phone":
            phone_text = cell
        elif meaning == "country":
            country = _check_country(cell)
        elif meaning == "tags":
            tags = _split_tags(cell)
        else:
            values[meaning] = cell
    if not phone_text:
        raise _row_problem("phone", "no phone number")
    phone = parse_contact_phone(phone_text, country or workspace.default_country)
    if "language" in values:
        values["language"] = check_language(values["language"]) or ""
    if "time_zone" in values:
        values["time_zone"] = check_time_zone(values["time_zone"]) or ""
    if len(values.get("name", "")) > NAME_MAX_LENGTH:
        raise _row_problem("name", f"name is longer than {NAME_MAX_LENGTH} characters")
    if len(values.get("first_name", "")) > FIRST_NAME_MAX_LENGTH:
        raise _row_problem("first_name", f"first name is longer than {FIRST_NAME_MAX_LENGTH} characters")
    consents: dict[int | None, tuple[Topic | None, str]] = {}
    for index, topic in columns.consents.items():
        cell = cells[index].strip()
        if not cell:
            continue
        status = CONSENT_VALUES.get(cell.lower().replace("-", "_").replace(" ", "_"))
        if status is None:
            raise _row_problem(columns.names[index],
                               f"'{cell}' in column '{columns.names[index]}' is not a consent value "
                               "(use yes/no or opted_in/opted_out)")
        consents[topic.id if topic else None] = (topic, status)
    attributes = {key: cells[index].strip() for index, key in columns.attributes.items() if cells[index].strip()}
    return ParsedRow(line=line, phone=phone, values=values, tags=tags, attributes=attributes, consents=consents)


def _row_problem(field_name: str, message: str) -> ProblemError:
    """A 422 for one row's field."""
    return ProblemError(422, "Invalid row", message, [FieldError(field_name, message)])


def _check_country(cell: str) -> str:
    """A two-letter ISO country code, upper-cased."""
    code = cell.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise _row_problem("country", f"'{cell}' is not a two-letter country code such as KR, ID, GR or US")
    return code


def _split_tags(cell: str) -> list[str]:
    """Tags separated by ';' or '|', trimmed, without empties or repeats, in order."""
    parts = cell.replace("|", ";").split(";")
    return list(dict.fromkeys(part.strip() for part in parts if part.strip()))


class _ChunkImporter:
    """Applies parsed rows to the database a chunk at a time and keeps the report."""

    def __init__(self, session: Session, workspace: Workspace, columns: Columns, now: datetime, *,
                 wording: str, actor: str) -> None:
        """Bind to one import."""
        self.session = session
        self.workspace = workspace
        self.columns = columns
        self.now = now
        self.wording = wording
        self.actor = actor
        self.report = ImportReport()
        # E.164 -> (first line, what the rows so far stated); small per contact, so 100k+ rows fit.
        self.first_rows: dict[str, tuple[int, frozenset[str]]] = {}
        self._interned: dict[frozenset[str], frozenset[str]] = {}

    def apply(self, chunk: list[ParsedRow]) -> None:
        """Create, update or merge the contacts of one chunk, then record consent changes."""
        if not chunk:
            return
        existing = self._existing_contacts({row.phone.e164 for row in chunk})
        touched: list[tuple[Contact, ParsedRow]] = []
        for row in chunk:
            contact = existing.get(row.phone.e164)
            earlier = self.first_rows.get(row.phone.e164)
            if earlier is not None:
                self._merge(contact, row, earlier)
                touched.append((contact, row))
                continue
            if contact is None:
                contact = self._create(row)
                existing[row.phone.e164] = contact
                self.report.imported += 1
            elif self._update(contact, row.values, row.tags, row.attributes):
                self.report.updated += 1
            else:
                self.report.unchanged += 1
            self._remember(row.phone.e164, row.line, row.keys())
            touched.append((contact, row))
        self.session.flush()
        self._apply_consents(touched)

    def _existing_contacts(self, phones: set[str]) -> dict[str, Contact]:
        """The workspace's contacts with these numbers, in one query."""
        rows = self.session.scalars(select(Contact).where(
            Contact.workspace_id == self.workspace.id, Contact.phone.in_(sorted(phones))))
        return {contact.phone: contact for contact in rows if contact.phone}

    def _remember(self, e164: str, line: int, keys: frozenset[str]) -> None:
        """Note what the first row of a number stated (shared frozensets keep memory small)."""
        keys = self._interned.setdefault(keys, keys)
        self.first_rows[e164] = (line, keys)

    def _create(self, row: ParsedRow) -> Contact:
        """A new contact from a row."""
        fields: dict[str, Any] = dict(row.values)
        contact = build_contact(
            self.workspace,
            row.phone,
            self.now,
            attributes=dict(row.attributes),
            tags=list(row.tags),
            **fields,
        )
        self.session.add(contact)
        return contact

    def _update(self, contact: Contact, values: dict[str, str], tags: list[str],
                attributes: dict[str, str]) -> bool:
        """Apply a row's values to an existing contact; True when anything changed."""
        changed = False
        for name, value in values.items():
            if getattr(contact, name) != value:
                setattr(contact, name, value)
                changed = True
        current_tags = list(contact.tags or [])
        new_tags = current_tags + [tag for tag in tags if tag not in current_tags]
        if new_tags != current_tags:
            contact.tags = new_tags  # JSON columns need a new object to be seen as changed
            changed = True
        current_attributes = dict(contact.attributes or {})
        merged_attributes = {**current_attributes, **attributes}
        if merged_attributes != current_attributes:
            contact.attributes = merged_attributes
            changed = True
        if changed:
            contact.updated_at = self.now
        return changed

    def _merge(self, contact: Contact, row: ParsedRow, earlier: tuple[int, frozenset[str]]) -> None:
        """Fold a repeated number into its earlier row: only what the earlier rows left unsaid is applied."""
        first_line, stated = earlier
        values = {name: value for name, value in row.values.items() if f"field:{name}" not in stated}
        attributes = {key: value for key, value in row.attributes.items() if f"attr:{key}" not in stated}
        row.consents = {topic_id: pair for topic_id, pair in row.consents.items()
                        if f"consent:{topic_id}" not in stated}
        self._update(contact, values, row.tags, attributes)
        self._remember(row.phone.e164, first_line, stated | row.keys())
        self.report.merged.append(MergedRow(line=row.line, into_line=first_line, phone=row.phone.e164))

    def _apply_consents(self, touched: list[tuple[Contact, ParsedRow]]) -> None:
        """Record a consent event wherever a row's consent differs from the contact's current one."""
        wanted = [(contact, row) for contact, row in touched if row.consents]
        if not wanted:
            return
        current = self._current_consents([contact.id for contact, _ in wanted])
        changes: list[ConsentChange] = []
        for contact, row in wanted:
            for topic_id, (topic, status) in row.consents.items():
                if topic_id is None:
                    now_status = "opted_out" if contact.global_opt_out else None
                    # Without a global opt-out there is nothing to opt back in to.
                    if status == "opted_in" and now_status is None:
                        continue
                else:
                    now_status = current.get((contact.id, topic_id))
                if now_status == status:
                    continue
                changes.append(ConsentChange(contact, topic, status, source="import", actor=self.actor,
                                             wording=self.wording))
                current[(contact.id, topic_id)] = status
        # One bulk write per chunk: recording them one by one cost most of a large import's time.
        self.report.consent_events += record_consents(self.session, changes, self.now)

    def _current_consents(self, contact_ids: list[int]) -> dict[tuple[int, int], str]:
        """(contact id, topic id) -> current status for these contacts, in one query."""
        rows = self.session.execute(select(Consent.contact_id, Consent.topic_id, Consent.status).where(
            Consent.contact_id.in_(contact_ids)))
        return {(contact_id, topic_id): status for contact_id, topic_id, status in rows}
