"""The `mannerly` command: run the server and worker, manage the database, try messages, import contacts.

Every command builds its own Runtime from the MANNERLY_* settings. User errors (a bad
phone number, an unknown topic or workspace) are printed in red on stderr and end with
exit code 2, never with a traceback. See docs/cli.md.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mannerly.config import Settings
from mannerly.errors import ProblemError, conflict, invalid
from mannerly.kit.process import tune_garbage_collection
from mannerly.models import TOPIC_KINDS, Channel, Contact, Topic, Workspace
from mannerly.observability import configure_logging
from mannerly.topics.service import create_topic
from mannerly.policy.types import Action, Decision
from mannerly.runtime import Runtime

DEMO_WORKSPACE = "Demo Shop"
# Where the REST API takes messages; used in the curl example `serve` prints.
API_MESSAGES_PATH = "/v1/messages"
EXIT_REJECTED = 1
EXIT_USAGE = 2
REJECTED_ROWS_SHOWN = 50
ACTION_STYLES = {"send": "bold green", "defer": "bold yellow", "reject": "bold red"}
VERDICT_STYLES = {"pass": "green", "exempt": "cyan", "fixed": "cyan", "reroute": "cyan", "defer": "yellow",
                  "reject": "red"}
SEVERITY_STYLES = {"error": "red", "warning": "yellow", "fixed": "cyan"}

app = typer.Typer(
    name="mannerly",
    help="Mannerly: customer messaging with etiquette enforced by software.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces (one per business).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of a workspace.", no_args_is_help=True)
topic_app = typer.Typer(help="Topics: the reasons a business writes to customers.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
simulate_app = typer.Typer(help="The built-in simulator: pretend to be a customer.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(workspace_app, name="workspace")
app.add_typer(apikey_app, name="apikey")
app.add_typer(topic_app, name="topic")
app.add_typer(contacts_app, name="contacts")
app.add_typer(simulate_app, name="simulate")

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)

WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


# -- plumbing ------------------------------------------------------------------------------


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print an error in red on stderr and leave with an exit code."""
    error_console.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The settings from the environment, or a clear error naming the bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(f"MANNERLY_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
                             for item in error.errors())
        fail(f"invalid setting: {problems}")


@contextmanager
def user_errors(code: int = EXIT_USAGE) -> Iterator[None]:
    """Turn a ProblemError into a red message and an exit code instead of a traceback."""
    try:
        yield
    except ProblemError as error:
        fail(problem_text(error), code)
    except OperationalError as error:
        # An unreachable or locked database is not the user's typo, but still no traceback.
        fail(f"database error: {error.orig or error}", 1)


def problem_text(error: ProblemError) -> str:
    """The detail of a problem plus any field error that says something more."""
    extra = [f"{item.field}: {item.message}" for item in error.errors if item.message != error.detail]
    return "; ".join([error.detail, *extra])


@contextmanager
def open_runtime(*, migrate: bool = True) -> Iterator[Runtime]:
    """A Runtime for one command (migrated to the newest schema unless told not to), closed afterwards."""
    settings = load_settings()
    runtime = Runtime.create(settings, migrate=migrate)
    try:
        yield runtime
    finally:
        runtime.close()


def get_workspace(session: Session, name: str) -> Workspace:
    """The named workspace, or a 404 saying how to create it."""
    from mannerly.workspaces.service import find_workspace

    workspace = find_workspace(session, name)
    if workspace is None:
        hint = "run `mannerly demo`" if name == DEMO_WORKSPACE else f"create it with `mannerly workspace create \"{name}\"`"
        raise ProblemError(404, "Not found", f"no workspace named '{name}'; {hint}")
    return workspace


def parse_key_values(items: list[str], option: str) -> dict[str, str]:
    """`key=value` strings as a dict; a 422 for an item without '='."""
    result: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise invalid(option, f"{option} takes key=value, got '{item}'")
        result[key.strip()] = value
    return result


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment with a UTC offset (or Z) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid("at", f"'{text}' is not an ISO 8601 time such as 2025-03-03T22:30+09:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid("at", f"'{text}' has no time zone: add an offset such as +09:00, or Z for UTC")
    return moment.astimezone(UTC)


# -- serve and worker -------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default MANNERLY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default MANNERLY_PORT).")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Create the demo workspace and show its API key.")] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not send messages from this process.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="API processes to start (more than 1 runs mannerly.asgi:app "
                                                     "in each; see docs/deploy.md).")] = 1,
) -> None:
    """Run the web server (API, webhooks, web UI) with the dispatcher in the same process."""
    import uvicorn

    with user_errors(), open_runtime() as runtime:
        settings = runtime.settings
        host = host or settings.host
        port = port or settings.port
        base = f"http://{_display_host(host)}:{port}"
        console.print(f"[bold]Mannerly[/] listening on [link={base}/]{base}/[/]  (API docs: {base}/docs)",
                      soft_wrap=True)
        if demo:
            api_key = _demo_key(runtime)
            console.print(f"Demo workspace: [bold]{DEMO_WORKSPACE}[/]   API key: [bold cyan]{api_key}[/]",
                          soft_wrap=True)
            email, password = _demo_login(runtime)
            console.print(f"Web UI: {base}/   login [bold]{email}[/]   password [bold cyan]{escape(password)}[/]",
                          soft_wrap=True)
            console.print("Try it:")
            console.print(escape(curl_example(base, api_key)), soft_wrap=True)
        start_worker = not no_worker and settings.run_worker_in_process
        if not start_worker:
            console.print("No dispatcher in this process: run `mannerly worker` to send messages.")
        from mannerly.app import create_app

        configure_logging(settings.log_level, settings.log_format)
        if workers > 1:
            # Each process imports mannerly.asgi and builds its own runtime from the environment,
            # which the children inherit; the flag travels the same way.
            os.environ["MANNERLY_RUN_WORKER_IN_PROCESS"] = "true" if start_worker else "false"
            uvicorn.run("mannerly.asgi:app", host=host, port=port, workers=workers,
                        log_level=settings.log_level.lower(), log_config=None)
            return
        web_app = create_app(runtime, start_worker=start_worker)
        tune_garbage_collection()
        uvicorn.run(web_app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None)


def _display_host(host: str) -> str:
    """The host to show in a URL (a wildcard address is reachable as localhost)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _demo_key(runtime: Runtime) -> str:
    """Ensure the demo workspace and return its API key, committed."""
    from mannerly.demo import demo_api_key

    with runtime.session() as session:
        key = demo_api_key(session, runtime.settings, runtime.now())
        session.commit()
    return key


def curl_example(base_url: str, api_key: str) -> str:
    """A ready-to-paste request sending the demo's order_shipped template to a Korean demo customer."""
    body = json.dumps({"to": "+821023456789", "topic": "orders", "template": "order_shipped",
                       "data": {"order_id": "A-1001"}}, ensure_ascii=False)
    return (f"curl -X POST {base_url}{API_MESSAGES_PATH} \\\n"
            f"  -H 'Authorization: Bearer {api_key}' \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d '{body}'")


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run one dispatcher pass and exit.")] = False,
) -> None:
    """Send due messages until Ctrl-C or SIGTERM (the current pass is finished first)."""
    from mannerly.db import current_revision, head_revision, make_engine
    from mannerly.outbox.dispatcher import Dispatcher

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with user_errors():
            current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    if current != head:
        fail(f"the database is at revision {current or 'none (empty)'} but this Mannerly needs {head}: "
             "run `mannerly db upgrade` first")
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime.create(settings)
    stopping = threading.Event()
    previous = _install_stop_handlers(stopping)
    worker_id = f"worker-{socket.gethostname()}-{os.getpid()}"
    dispatcher = Dispatcher(runtime, worker_id)
    tune_garbage_collection()
    console.print(f"Worker {worker_id} started; Ctrl-C to stop.")
    try:
        while not stopping.is_set():
            busy = False
            try:
                stats = dispatcher.run_once()
                busy = stats.busy(settings.dispatch_batch_size)
                if stats.claimed or stats.receipts or stats.recovered or stats.webhook_events or stats.errors:
                    console.print(f"{runtime.now():%H:%M:%S} claimed {stats.claimed}, sent {stats.sent}, "
                                  f"deferred {stats.deferred}, rejected {stats.rejected}, failed {stats.failed}, "
                                  f"receipts {stats.receipts}, recovered {stats.recovered}, "
                                  f"webhook events {stats.webhook_events}")
                for error in stats.errors:
                    error_console.print(f"[red]{escape(error)}[/]")
            except Exception as error:  # a database hiccup must not end the worker
                error_console.print(f"[red]dispatcher pass failed: {escape(str(error))}[/]")
            if once:
                break
            if not busy:
                stopping.wait(settings.dispatch_interval_seconds)
    finally:
        _restore_handlers(previous)
        runtime.close()
    console.print("Worker stopped.")


def _install_stop_handlers(stopping: threading.Event) -> dict[int, Any]:
    """Make SIGINT and SIGTERM ask the loop to stop after the current pass; returns the old handlers."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous  # signals can only be handled on the main thread (tests run commands elsewhere)
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the signal handlers that were there before."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


# -- database ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    from mannerly.db import current_revision, head_revision, make_engine, upgrade_database

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with user_errors():
            upgrade_database(settings.database_url)
            revision = current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"Database is at revision [bold]{revision}[/] (newest: {head_revision()}).")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is up to date (exit 1 when not)."""
    from mannerly.db import current_revision, head_revision, make_engine

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with user_errors():
            current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        console.print(f"Database is at revision [bold]{current}[/], the newest.")
        return
    console.print(f"Database is at revision [bold]{current or 'none (empty)'}[/]; the newest is {head}. "
                  "Run `mannerly db upgrade`.")
    raise typer.Exit(1)


# -- demo, workspaces, keys, topics -----------------------------------------------------------------


@app.command()
def demo() -> None:
    """Create the demo workspace (if needed) and print its API key."""
    with user_errors(), open_runtime() as runtime:
        key = _demo_key(runtime)
        email, password = _demo_login(runtime)
    console.print(f"Demo workspace: [bold]{DEMO_WORKSPACE}[/]")
    console.print(f"API key: [bold cyan]{key}[/]", soft_wrap=True)
    console.print(f"Web UI login: [bold]{email}[/]   password [bold cyan]{escape(password)}[/]", soft_wrap=True)


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Name of the business.")],
    country: Annotated[str | None, typer.Option(help="Default country for national numbers, e.g. KR.")] = None,
    language: Annotated[str, typer.Option(help="Default language, e.g. ko.")] = "en",
    brand: Annotated[list[str] | None, typer.Option(
        help="Brand name in one language as lang=name, e.g. ko=데모샵; repeatable.")] = None,
) -> None:
    """Create a workspace with its service topic and a simulator SMS channel."""
    from mannerly.contacts.service import check_language
    from mannerly.workspaces.service import create_workspace

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        if country is not None and not (len(country.strip()) == 2 and country.strip().isalpha()):
            raise invalid("country", f"'{country}' is not a two-letter country code such as KR")
        language = check_language(language) or "en"
        brands = {check_language(key) or key: value for key, value in parse_key_values(brand or [], "--brand").items()}
        workspace = create_workspace(session, name, brand_names=brands or None,
                                     default_country=country.strip() if country else None,
                                     default_language=language)
        session.commit()
        console.print(f"Workspace [bold]{escape(workspace.name)}[/] created (id {workspace.id}) with the "
                      "'service' topic and a simulator SMS channel.")


@workspace_app.command("list")
def workspace_list() -> None:
    """List the workspaces."""
    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        rows = session.scalars(select(Workspace).order_by(Workspace.name)).all()
        table = Table("id", "name", "country", "language", "brand names")
        for row in rows:
            brands = ", ".join(f"{lang}={brand}" for lang, brand in (row.brand_names or {}).items())
            table.add_row(str(row.id), escape(row.name), row.default_country or "", row.default_language,
                          escape(brands))
        console.print(table)


@apikey_app.command("create")
def apikey_create(
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")],
    name: Annotated[str, typer.Option(help="A label telling keys apart.")] = "default",
) -> None:
    """Create an API key and print it (only the key, for scripts); it cannot be shown again."""
    from mannerly.workspaces.service import create_api_key

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        key = create_api_key(session, get_workspace(session, workspace), name)
        session.commit()
    typer.echo(key)


@topic_app.command("create")
def topic_create(
    name: Annotated[str, typer.Argument(help="Machine name, e.g. appointments.")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")],
    kind: Annotated[str, typer.Option(help="transactional or marketing.")] = "transactional",
    urgent: Annotated[bool, typer.Option("--urgent", help="May go outside quiet hours (security alerts).")] = False,
    keyword: Annotated[str | None, typer.Option(help="Word customers text to join or leave this topic.")] = None,
    label: Annotated[str | None, typer.Option(help="What customers and staff read.")] = None,
) -> None:
    """Create a topic in a workspace."""
    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        topic = create_topic(session, ws, name, kind=kind, urgent=urgent, keyword=keyword, label=label,
                             now=runtime.now())
        session.commit()
        extra = f", keyword {topic.keyword}" if topic.keyword else ""
        console.print(f"Topic [bold]{escape(topic.name)}[/] ({topic.kind}{', urgent' if topic.urgent else ''}"
                      f"{escape(extra)}) created in {escape(ws.name)}.")


# -- check and send -------------------------------------------------------------------------------


def build_intent(to: str | None, contact: int | None, topic: str, text: str | None, template: str | None,
                 data: list[str] | None, language: str | None, channel: str | None, reply: bool) -> Any:
    """The OutboundIntent for the check/send options."""
    from mannerly.messages.service import OutboundIntent

    if (to is None) == (contact is None):
        raise invalid("to", "give exactly one of --to and --contact")
    if (text is None) == (template is None):
        raise invalid("text", "give exactly one of --text and --template")
    if data and template is None:
        raise invalid("data", "--data fills a --template's placeholders; it needs --template")
    return OutboundIntent(topic=topic, contact_id=contact, to=to, text=text, template=template,
                          data=parse_key_values(data or [], "--data") or None, language=language,
                          channel=channel, reply=reply)


ToOption = Annotated[str | None, typer.Option("--to", help="Recipient phone number (E.164 or national).")]
ContactOption = Annotated[int | None, typer.Option("--contact", help="Recipient contact id.")]
TopicOption = Annotated[str, typer.Option("--topic", help="Topic name, e.g. orders.")]
TextOption = Annotated[str | None, typer.Option("--text", help="The message text.")]
TemplateOption = Annotated[str | None, typer.Option("--template", help="Template name instead of --text.")]
DataOption = Annotated[list[str] | None, typer.Option("--data", help="Template value as key=value; repeatable.")]
LanguageOption = Annotated[str | None, typer.Option("--language", help="Template language (default: the contact's).")]
ChannelOption = Annotated[str | None, typer.Option("--channel", help="sms, whatsapp or messenger (default: best).")]
ReplyOption = Annotated[bool, typer.Option("--reply", help="The message answers the customer.")]


@app.command()
def check(
    topic: TopicOption,
    workspace: WorkspaceOption = DEMO_WORKSPACE,
    to: ToOption = None,
    contact: ContactOption = None,
    text: TextOption = None,
    template: TemplateOption = None,
    data: DataOption = None,
    language: LanguageOption = None,
    channel: ChannelOption = None,
    reply: ReplyOption = False,
    at: Annotated[str | None, typer.Option("--at", help="Decide as if it were this moment (ISO 8601 with offset).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Dry run: what would happen to this message, and why. Exit 0 send/defer, 1 reject, 2 bad input."""
    from mannerly.messages.service import check as check_message

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        intent = build_intent(to, contact, topic, text, template, data, language, channel, reply)
        now = parse_moment(at) if at else runtime.now()
        decision = check_message(session, ws, intent, now)
    if as_json:
        typer.echo(json.dumps(decision.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_decision(decision)
    if decision.action is Action.REJECT:
        raise typer.Exit(EXIT_REJECTED)


@app.command()
def send(
    topic: TopicOption,
    workspace: WorkspaceOption = DEMO_WORKSPACE,
    to: ToOption = None,
    contact: ContactOption = None,
    text: TextOption = None,
    template: TemplateOption = None,
    data: DataOption = None,
    language: LanguageOption = None,
    channel: ChannelOption = None,
    reply: ReplyOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the message as JSON.")] = False,
) -> None:
    """Submit a message: decided now, stored, and sent by the dispatcher when due. Exit 1 when rejected."""
    from mannerly.contacts.state import contact_time_zones
    from mannerly.messages.service import submit

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        intent = build_intent(to, contact, topic, text, template, data, language, channel, reply)
        message = submit(session, ws, intent, runtime.now())
        session.commit()
        zones = contact_time_zones(session.get(Contact, message.contact_id))
        decision_dict = dict(message.decision or {})
        summary = {"id": message.id, "status": message.status, "contact_id": message.contact_id,
                   "send_at": message.send_at.isoformat() if message.send_at else None,
                   "decision": decision_dict}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        console.print(f"Message [bold]{summary['id']}[/] to contact {summary['contact_id']}: "
                      f"status [bold]{summary['status']}[/]")
        print_decision_dict(decision_dict, zones[0] if len(zones) == 1 else None)
        if summary["status"] in ("pending", "deferred"):
            console.print("[dim]A running `mannerly serve` or `mannerly worker` sends it when it is due.[/]")
    if summary["status"] == "rejected":
        raise typer.Exit(EXIT_REJECTED)


def print_decision(decision: Decision) -> None:
    """Show a decision for people: the action in colour, when, the final text, reasons and lint."""
    zone = getattr(decision.local_send_at.tzinfo, "key", None) if decision.local_send_at else None
    print_decision_dict(decision.as_dict(), zone)


def print_decision_dict(decision: dict[str, Any], zone: str | None = None) -> None:
    """Show a decision in its JSON form (as stored on a message) for people; `zone` names the local zone."""
    action = decision.get("action", "?")
    style = ACTION_STYLES.get(action, "bold")
    console.print(f"[{style}]{action.upper()}[/] {escape(describe_timing(decision, zone))}")
    channel = decision.get("channel") or "none"
    segments = decision.get("segments")
    console.print(f"Channel: {channel} · {segments} segment{'s' if segments != 1 else ''} · {decision.get('encoding')}")
    console.print("Final text:")
    console.print(f"  {escape(decision.get('final_text') or '')}", soft_wrap=True)
    reasons = decision.get("reasons") or []
    if reasons:
        table = Table("rule", "verdict", "detail", title="Reasons", title_justify="left")
        for reason in reasons:
            verdict = reason.get("verdict", "")
            table.add_row(escape(reason.get("rule", "")),
                          f"[{VERDICT_STYLES.get(verdict, 'white')}]{verdict}[/]", escape(reason.get("detail", "")))
        console.print(table)
    findings = decision.get("lint") or []
    if findings:
        table = Table("check", "severity", "detail", "suggestion", title="Content", title_justify="left")
        for finding in findings:
            severity = finding.get("severity", "")
            table.add_row(escape(finding.get("check", "")),
                          f"[{SEVERITY_STYLES.get(severity, 'white')}]{severity}[/]",
                          escape(finding.get("detail", "")), escape(finding.get("suggestion") or ""))
        console.print(table)


def describe_timing(decision: dict[str, Any], zone: str | None = None) -> str:
    """'at/until <local time> <zone>, <UTC time>' for a decision in JSON form ('' for a rejection)."""
    if decision.get("action") == "reject":
        return ""
    send_at = decision.get("send_at")
    local = decision.get("local_send_at")
    if not send_at:
        return ""
    utc_text = datetime.fromisoformat(send_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    local_text = ""
    if local:
        local_moment = datetime.fromisoformat(local)
        zone_text = f"{zone} ({local_moment:%z})" if zone else local_moment.strftime("%z")
        local_text = f"{local_moment:%a %Y-%m-%d %H:%M} {zone_text}, "
    word = "at" if decision.get("action") == "send" else "until"
    return f"{word} {local_text}{utc_text}"


# -- contacts ------------------------------------------------------------------------------------


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row and a phone column.",
                                         exists=True, dir_okay=False, readable=True)],
    workspace: WorkspaceOption = DEMO_WORKSPACE,
    rejected_out: Annotated[Path | None, typer.Option(
        "--rejected", help="Also write every rejected row, with line and reason, to this CSV file.")] = None,
    actor: Annotated[str, typer.Option(help="Who is importing, kept with consent records.")] = "cli",
) -> None:
    """Import contacts from CSV: phones normalized to E.164, duplicates merged, bad rows listed.

    Exit 0 even with rejected rows; 1 when the file cannot be read at all.
    """
    from mannerly.contacts.importer import import_contacts

    line_count = count_utf8_lines(file)
    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TextColumn("lines"),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("import", total=line_count)

            def committed(lines_read: int) -> None:
                """Commit each chunk as it is done, so a huge file never waits in one transaction."""
                session.commit()
                progress.update(task, completed=min(lines_read, line_count))

            try:
                with file.open("rb") as handle:
                    report = import_contacts(session, ws, handle, runtime.now(), on_progress=committed,
                                             source_name=file.name, actor=actor)
            except ProblemError as error:
                session.rollback()
                fail(problem_text(error), 1)
            session.commit()
    print_import_report(report)
    if rejected_out is not None and report.rejected:
        write_rejected_rows(rejected_out, report.rejected)
        console.print(f"Rejected rows written to {rejected_out}")


def count_utf8_lines(path: Path) -> int:
    """Count the file's lines, failing (exit 1) when it is not UTF-8, before anything is imported."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as handle:
        for lines, chunk in enumerate(handle, start=1):  # noqa: B007 - the count is the point
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                fail(f"{path.name} is not UTF-8 text (first bad byte on line {lines}); "
                     "save it as 'CSV UTF-8' and import it again", 1)
    if lines == 0:
        fail(f"{path.name} is empty: a header row with a phone column is needed", 1)
    return lines


def print_import_report(report: Any) -> None:
    """Counts, merged duplicates and a table of rejected rows."""
    console.print(f"[green]{report.imported} imported[/], {report.updated} updated, {report.unchanged} unchanged, "
                  f"{len(report.merged)} duplicate rows merged, "
                  f"[{'red' if report.rejected else 'green'}]{len(report.rejected)} rejected[/]"
                  f" ({report.rows} rows read, {report.consent_events} consent changes recorded).")
    if report.merged:
        shown = ", ".join(f"line {row.line} → line {row.into_line}" for row in report.merged[:10])
        more = f" and {len(report.merged) - 10} more" if len(report.merged) > 10 else ""
        console.print(f"Merged duplicates: {shown}{more}")
    if report.rejected:
        table = Table("line", "reason", "row", title="Rejected rows", title_justify="left")
        for row in report.rejected[:REJECTED_ROWS_SHOWN]:
            cells = ", ".join(value for value in row.raw.values() if value)
            table.add_row(str(row.line), escape(row.reason), escape(cells[:60]))
        console.print(table)
        if len(report.rejected) > REJECTED_ROWS_SHOWN:
            console.print(f"… and {len(report.rejected) - REJECTED_ROWS_SHOWN} more (use --rejected FILE for all).")


def write_rejected_rows(path: Path, rejected: list[Any]) -> None:
    """Write rejected rows as CSV: line, reason, then the row's own columns."""
    columns: list[str] = []
    for row in rejected:
        columns.extend(name for name in row.raw if name not in columns)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *columns])
        for row in rejected:
            writer.writerow([row.line, row.reason, *(row.raw.get(name, "") for name in columns)])


# -- simulator ---------------------------------------------------------------------------------


@simulate_app.command("inbound")
def simulate_inbound(
    from_phone: Annotated[str, typer.Option("--from", help="The customer's phone number.")],
    text: Annotated[str, typer.Option("--text", help="What the customer writes, e.g. STOP.")],
    workspace: WorkspaceOption = DEMO_WORKSPACE,
) -> None:
    """A simulated customer texts the workspace's simulator number; shows what Mannerly did."""
    from mannerly.contacts.service import parse_contact_phone
    from mannerly.inbound.pipeline import receive_message

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        channel = session.scalar(select(Channel).where(
            Channel.workspace_id == ws.id, Channel.provider == "simulator", Channel.kind == "sms",
            Channel.enabled.is_(True)).order_by(Channel.id))
        if channel is None:
            raise ProblemError(422, "Invalid request", f"{ws.name} has no enabled simulator SMS channel")
        phone = parse_contact_phone(from_phone, ws.default_country, "from")
        now = runtime.now()
        adapter = runtime.channels.adapter_for(channel, runtime)
        event = adapter.receive_from_phone(phone.e164, text, now)
        received = receive_message(session, ws, channel, event, now)
        session.commit()
        console.print(f"Stored message [bold]{received.message.id}[/] from {phone.e164} "
                      f"(contact {received.message.contact_id}).")
        if received.keyword is not None:
            match = received.keyword
            topic = f" for topic {match.topic}" if match.topic else ""
            console.print(f"Keyword [bold]{match.kind.value.upper()}[/]{topic} recognised (language {match.language}).")
        else:
            console.print("No keyword recognised: the message waits in the inbox.")
        confirmation = received.confirmation
        if confirmation is not None:
            console.print(f"Confirmation message {confirmation.id} queued: status [bold]{confirmation.status}[/]")
            console.print(f"  {escape(confirmation.final_text or confirmation.body)}", soft_wrap=True)


# -- SMPP SMSC simulator -----------------------------------------------------------------------------


@app.command("smsc-sim")
def smsc_sim(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (2775 is SMPP's usual port; 0 picks a free one).")] = 2775,
    system_id: Annotated[str | None, typer.Option(help="Only this system_id may bind (default: any).")] = None,
    password: Annotated[str | None, typer.Option(help="Required bind password (default: any).")] = None,
    receipt_delay_ms: Annotated[int, typer.Option(help="Delay before each delivery receipt.")] = 200,
    failure_rate: Annotated[float, typer.Option(help="Share of parts reported UNDELIV (0..1).")] = 0.0,
    reply_rate: Annotated[float, typer.Option(help="Share of delivered messages a phone answers (0..1).")] = 0.0,
    id_format: Annotated[str, typer.Option(help="Message ids in submit_sm_resp: hex, HEX, dec or dec0.")] = "hex",
    receipt_id_format: Annotated[str, typer.Option(help="Ids in receipts: same, hex, HEX, dec or dec0.")] = "same",
    throttle_per_second: Annotated[float, typer.Option(help="Answer ESME_RTHROTTLED above this rate (0: never).")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for repeatable failures and replies.")] = None,
) -> None:
    """Run an SMPP v3.4 SMSC simulator with simulated phones (receipts, replies, throttling) until Ctrl-C."""
    import asyncio

    from mannerly.channels.smpp.smsc_sim import SimSettings, serve_forever

    try:
        settings = SimSettings(host=host, port=port, system_id=system_id, password=password,
                               receipt_delay_ms=receipt_delay_ms, failure_rate=failure_rate, reply_rate=reply_rate,
                               id_format=id_format, receipt_id_format=receipt_id_format,
                               throttle_per_second=throttle_per_second, seed=seed)
    except ValueError as error:
        fail(str(error))
    try:
        asyncio.run(serve_forever(settings))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error}")


# -- teams and FAQ (inbox) ------------------------------------------------------------------------

team_app = typer.Typer(help="Teams of agents with business hours and response targets.", no_args_is_help=True)
faq_app = typer.Typer(help="FAQ entries the bot answers with.", no_args_is_help=True)
app.add_typer(team_app, name="team")
app.add_typer(faq_app, name="faq")


def parse_hours_option(items: list[str]) -> dict[str, list[list[str]]]:
    """'0-4=09:00-18:00' or '5=10:00-14:00' (repeatable, days 0=Monday … 6=Sunday) → the stored hours JSON."""
    hours: dict[str, list[list[str]]] = {}
    for item in items:
        days, _, span = item.partition("=")
        start, _, end = span.partition("-")
        first, _, last = days.partition("-")
        if not (first.isdigit() and (not last or last.isdigit()) and start and end):
            raise invalid("--hours", f"'{item}' is not like 0-4=09:00-18:00")
        for day in range(int(first), int(last or first) + 1):
            hours.setdefault(str(day), []).append([start.strip(), end.strip()])
    return hours


@team_app.command("create")
def team_create(
    name: Annotated[str, typer.Argument(help="Team name, e.g. Billing.")],
    workspace: WorkspaceOption = DEMO_WORKSPACE,
    hours: Annotated[list[str] | None, typer.Option(
        help="Open hours as days=HH:MM-HH:MM, e.g. 0-4=09:00-18:00 (0=Monday); repeatable. None: always open.")] = None,
    time_zone: Annotated[str, typer.Option("--tz", help="The business's IANA time zone.")] = "UTC",
    first_response: Annotated[int | None, typer.Option(help="First-response target in minutes.")] = None,
    next_response: Annotated[int | None, typer.Option(help="Next-response target in minutes.")] = None,
) -> None:
    """Create a team with business hours and response-time targets."""
    from mannerly.teams.service import create_team

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        team = create_team(session, ws.id, name, hours=parse_hours_option(hours or []), time_zone=time_zone,
                           first_response_target_minutes=first_response, next_response_target_minutes=next_response,
                           now=runtime.now())
        session.commit()
        console.print(f"Team [bold]{escape(team.name)}[/] created (id {team.id}) in {escape(ws.name)}.")


@team_app.command("list")
def team_list(workspace: WorkspaceOption = DEMO_WORKSPACE) -> None:
    """List the teams with their hours and targets."""
    from mannerly.policy.calendar import DAY_NAMES
    from mannerly.teams.service import list_teams

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        table = Table("id", "name", "time zone", "hours", "first / next response (min)")
        for team in list_teams(session, ws.id):
            days = "; ".join(f"{DAY_NAMES[int(day)]} " + " ".join(f"{start}-{end}" for start, end in spans)
                             for day, spans in sorted((team.hours or {}).items()))
            targets = f"{team.first_response_target_minutes or '-'} / {team.next_response_target_minutes or '-'}"
            table.add_row(str(team.id), escape(team.name), team.time_zone, escape(days or "always open"), targets)
        console.print(table)


@faq_app.command("add")
def faq_add(
    question: Annotated[str, typer.Option(help="The question; separate other phrasings with a newline.")],
    answer: Annotated[str, typer.Option(help="What the bot answers.")],
    language: Annotated[str, typer.Option(help="Language of the entry (en, ko, id, el).")] = "en",
    workspace: WorkspaceOption = DEMO_WORKSPACE,
) -> None:
    """Add an FAQ entry the bot answers with."""
    from mannerly.bots.faq import add_faq_entry

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        entry = add_faq_entry(session, ws.id, question=question.replace("\\n", "\n"), answer=answer,
                              language=language, now=runtime.now())
        session.commit()
        console.print(f"FAQ entry {entry.id} added to {escape(ws.name)}.")


@faq_app.command("list")
def faq_list(workspace: WorkspaceOption = DEMO_WORKSPACE) -> None:
    """List the FAQ entries."""
    from mannerly.bots.faq import list_faq

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        table = Table("id", "language", "question", "answer", "enabled")
        for entry in list_faq(session, ws.id):
            table.add_row(str(entry.id), entry.language, escape(entry.question.replace("\n", " | ")),
                          escape(entry.answer), "yes" if entry.enabled else "no")
        console.print(table)


@faq_app.command("match")
def faq_match(
    text: Annotated[str, typer.Argument(help="A customer's message.")],
    workspace: WorkspaceOption = DEMO_WORKSPACE,
) -> None:
    """Show which FAQ entry a message would get, and how sure the match is (nothing is sent)."""
    from mannerly.bots.faq import FaqMatcher, list_faq
    from mannerly.inbox.common import service_settings

    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        entries = [entry for entry in list_faq(session, ws.id) if entry.enabled]
        threshold = service_settings(session, ws.id).faq_threshold
        best = FaqMatcher([(entry.id, entry.question) for entry in entries]).best(text)
        if best is None:
            console.print("No entry shares anything with this message.")
            return
        entry = next(entry for entry in entries if entry.id == best.entry_id)
        verdict = "answers" if best.score >= threshold else "too unsure to answer"
        console.print(f"Best: entry {entry.id} (score {best.score:.2f}, threshold {threshold:.2f}): {verdict}.")
        console.print(f"  {escape(entry.answer)}", soft_wrap=True)


# -- web UI users -------------------------------------------------------------------------------

user_app = typer.Typer(help="People who log in to the web UI.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _demo_login(runtime: Runtime) -> tuple[str, str]:
    """Ensure the demo admin and return its email and password, committed."""
    from mannerly.demo import demo_admin_login

    with runtime.session() as session:
        login = demo_admin_login(session, runtime.settings, runtime.now())
        session.commit()
    return login


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option("--email", help="The person's email, used to log in.")],
    role: Annotated[str, typer.Option("--role", help="admin, agent or marketer.")],
    workspace: WorkspaceOption = DEMO_WORKSPACE,
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the email's first part).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Add a web UI user to a workspace; the password is read from stdin (or asked for)."""
    import sys

    from mannerly.web.auth import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with user_errors(), open_runtime() as runtime, runtime.session() as session:
        ws = get_workspace(session, workspace)
        user = create_user(session, ws, email, role, password, name=name)
        session.commit()
        console.print(f"User [bold]{escape(user.email)}[/] ({user.role}) added to {escape(ws.name)}.")
