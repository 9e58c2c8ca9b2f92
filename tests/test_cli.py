"""The `mannerly` command line, run in-process with Typer's CliRunner against a temporary SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from mannerly import cli
from mannerly.cli import app
from mannerly.config import Settings
from mannerly.models import ApiKey, ConsentEvent, Contact, Message, Topic, Workspace

from .conftest import start_cli_worker, stop_cli_worker

DATA = Path(__file__).parent / "contacts" / "data"


@pytest.fixture
def runner() -> CliRunner:
    """A runner for the Typer app."""
    return CliRunner()


@pytest.fixture
def database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file the CLI reaches through MANNERLY_DATABASE_URL; simulator never fails."""
    monkeypatch.setenv("MANNERLY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MANNERLY_SIMULATOR_FAILURE_RATE", "0")
    return settings.database_url


def query(database: str, statement):
    """Run one read query against the CLI's database and return all rows."""
    engine = create_engine(database)
    try:
        with Session(engine) as session:
            return session.scalars(statement).all()
    finally:
        engine.dispose()


def invoke(runner: CliRunner, *args: str, code: int = 0):
    """Run the CLI and check its exit code, showing its output when it differs."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def test_db_upgrade_migrates_an_empty_database(runner, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MANNERLY_DATABASE_URL", url)
    invoke(runner, "db", "current", code=1)
    result = invoke(runner, "db", "upgrade")
    assert "revision" in result.stdout
    assert "the newest" in invoke(runner, "db", "current").stdout


def test_worker_refuses_an_unmigrated_database(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("MANNERLY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = invoke(runner, "worker", "--once", code=2)
    assert "mannerly db upgrade" in result.stderr


def test_worker_once_sends_due_messages(runner, database):
    invoke(runner, "demo")
    invoke(runner, "send", "--to", "+821023456789", "--topic", "security-alerts",
           "--text", "New sign-in to your account. If this was not you, reply HELP.")
    invoke(runner, "worker", "--once")
    [message] = query(database, select(Message).where(Message.direction == "outbound"))
    assert message.status == "sent"


def test_workspace_apikey_and_topic_create(runner, database):
    result = invoke(runner, "workspace", "create", "Toko Budi", "--country", "id", "--language", "id",
                    "--brand", "id=Toko Budi", "--brand", "en=Budi's Shop")
    assert "Toko Budi" in result.stdout
    [workspace] = query(database, select(Workspace))
    assert (workspace.default_country, workspace.default_language) == ("ID", "id")
    assert workspace.brand_names == {"id": "Toko Budi", "en": "Budi's Shop"}
    assert "already exists" in invoke(runner, "workspace", "create", "Toko Budi", code=2).stderr

    key = invoke(runner, "apikey", "create", "--workspace", "Toko Budi", "--name", "shop").stdout.strip()
    assert key.startswith("mly_") and "\n" not in key
    [row] = query(database, select(ApiKey))
    assert (row.name, row.prefix) == ("shop", key[:8])

    invoke(runner, "topic", "create", "promos", "--workspace", "Toko Budi", "--kind", "marketing",
           "--keyword", "promo", "--label", "Promo Toko")
    topic = query(database, select(Topic).where(Topic.name == "promos"))[0]
    assert (topic.kind, topic.keyword, topic.label, topic.urgent) == ("marketing", "PROMO", "Promo Toko", False)
    assert "kind must be one of" in invoke(runner, "topic", "create", "x", "-w", "Toko Budi", "--kind", "spam",
                                           code=2).stderr
    assert "already used" in invoke(runner, "topic", "create", "other", "-w", "Toko Budi", "--keyword", "PROMO",
                                    code=2).stderr
    assert "no workspace named 'Nope'" in invoke(runner, "apikey", "create", "-w", "Nope", code=2).stderr


def test_demo_is_idempotent_and_keeps_its_key(runner, database, settings):
    first = invoke(runner, "demo").stdout
    second = invoke(runner, "demo").stdout
    key_file = Path(settings.database_url.removeprefix("sqlite:///")).parent / "demo-api-key"
    key = key_file.read_text().strip()
    assert key in first and key in second
    assert len(query(database, select(Workspace))) == 1
    assert len(query(database, select(ApiKey))) == 1


# A Tuesday 22:30 in Seoul (no holiday): the order update waits for 09:00 the next morning.
def test_check_json_defers_a_late_evening_message_to_korea(runner, database):
    invoke(runner, "demo")
    result = invoke(runner, "check", "--to", "+821023456789", "--topic", "orders", "--template", "order_shipped",
                    "--data", "order_id=A-1001", "--at", "2025-03-11T22:30+09:00", "--json")
    decision = json.loads(result.stdout)
    assert decision["action"] == "defer"
    assert decision["local_send_at"] == "2025-03-12T09:00:00+09:00"
    assert decision["send_at"] == "2025-03-12T00:00:00+00:00"
    assert "A-1001" in decision["final_text"] and "민준" in decision["final_text"]
    assert "quiet_hours" in [reason["rule"] for reason in decision["reasons"]]
    assert set(decision) == {"action", "send_at", "local_send_at", "channel", "final_text", "reasons", "lint",
                             "segments", "encoding", "channel_options"}
    # A dry run writes nothing.
    assert query(database, select(Message)) == []


def test_check_for_people_shows_the_action_times_and_reasons(runner, database):
    invoke(runner, "demo")
    out = invoke(runner, "check", "--to", "+821023456789", "--topic", "orders", "--text", "Your order shipped.",
                 "--at", "2025-03-11T22:30+09:00").stdout
    assert "DEFER" in out
    assert "2025-03-12 09:00 Asia/Seoul" in out and "2025-03-12 00:00 UTC" in out
    assert "quiet_hours" in out


@pytest.mark.parametrize(("args", "words"), [
    (["--to", "12345", "--topic", "orders", "--text", "hi"], "invalid phone number '12345'"),
    (["--to", "+821023456789", "--topic", "newsletter", "--text", "hi"], "unknown topic 'newsletter'"),
    (["--to", "+821023456789", "--topic", "orders", "--template", "order_shipped", "--data", "oops"],
     "key=value"),
    (["--to", "+821023456789", "--topic", "orders", "--template", "nope"], "unknown template 'nope'"),
    (["--topic", "orders", "--text", "hi"], "exactly one of --to and --contact"),
    (["--to", "+821023456789", "--topic", "orders", "--text", "hi", "--at", "2025-03-11T22:30"], "no time zone"),
    (["--to", "+821023456789", "--topic", "orders", "--text", "hi", "-w", "Nope"], "no workspace named 'Nope'"),
])
def test_check_bad_input_exits_2_with_the_reason(runner, database, args, words):
    invoke(runner, "demo")
    result = invoke(runner, "check", *args, code=2)
    assert words in result.stderr
    assert "Traceback" not in result.output


def test_check_rejection_exits_1(runner, database):
    invoke(runner, "demo")
    # The Greek demo customer Ελένη has opted out of everything.
    result = invoke(runner, "check", "--to", "+306975551234", "--topic", "orders", "--text", "Your order shipped.",
                    "--json", code=1)
    assert json.loads(result.stdout)["action"] == "reject"


def test_send_then_stop_records_the_opt_out(runner, database):
    invoke(runner, "demo")
    sent = invoke(runner, "send", "--to", "+6281234567890", "--topic", "orders", "--template", "order_shipped",
                  "--data", "order_id=B-77", "--json")
    message = json.loads(sent.stdout)
    assert message["status"] in ("pending", "deferred") and message["decision"]["action"] in ("send", "defer")

    result = invoke(runner, "simulate", "inbound", "--from", "+6281234567890", "--text", "STOP")
    assert "STOP" in result.stdout and "Confirmation message" in result.stdout
    [contact] = query(database, select(Contact).where(Contact.phone == "+6281234567890"))
    assert contact.global_opt_out is True
    events = query(database, select(ConsentEvent).where(ConsentEvent.contact_id == contact.id,
                                                       ConsentEvent.source == "keyword"))
    assert [(event.status, event.topic_id, event.wording) for event in events] == [("opted_out", None, "STOP")]

    refused = invoke(runner, "send", "--to", "+6281234567890", "--topic", "orders", "--text", "One more thing.",
                     code=1)
    assert "REJECT" in refused.stdout


def test_contacts_import_reports_counts_and_rejected_lines(runner, database, tmp_path):
    invoke(runner, "demo")
    rejected_file = tmp_path / "rejected.csv"
    result = invoke(runner, "contacts", "import", str(DATA / "broken.csv"), "--rejected", str(rejected_file))
    assert "0 imported" in result.stdout  # both good rows are demo customers already
    assert "7 rejected" in result.stdout
    assert "Asia/Atlantis" in result.stdout
    lines = rejected_file.read_text().splitlines()
    assert lines[0].startswith("line,reason,phone") and lines[1].startswith("3,")
    # good.csv holds four demo customers; Budi's promotions opt-in becomes an opt-out.
    again = invoke(runner, "contacts", "import", str(DATA / "good.csv"))
    assert "0 imported, 4 updated" in again.stdout and "1 consent changes" in again.stdout


def test_contacts_import_of_an_unreadable_file_exits_1(runner, database, tmp_path):
    invoke(runner, "demo")
    not_utf8 = tmp_path / "excel.csv"
    not_utf8.write_bytes("phone,name\n+821023456789,김민준\n".encode("cp949"))
    assert "not UTF-8" in invoke(runner, "contacts", "import", str(not_utf8), code=1).stderr
    assert "no phone column" in invoke(runner, "contacts", "import", str(DATA / "no_phone_column.csv"),
                                       code=1).stderr


def test_serve_prints_the_address_and_demo_key(runner, database, settings, monkeypatch):
    import fastapi
    import uvicorn

    import mannerly.app

    started = {}
    real_create_app = mannerly.app.create_app

    def recording_create_app(runtime, *, start_worker=True):
        """The real app factory, noting whether the worker was asked for."""
        started["start_worker"] = start_worker
        return real_create_app(runtime, start_worker=start_worker)

    monkeypatch.setattr(uvicorn, "run", lambda web_app, **options: started.update(options, app=web_app))
    monkeypatch.setattr(mannerly.app, "create_app", recording_create_app)
    out = invoke(runner, "serve", "--demo", "--port", "8123", "--no-worker").stdout
    key = (Path(settings.database_url.removeprefix("sqlite:///")).parent / "demo-api-key").read_text().strip()
    assert "http://127.0.0.1:8123/" in out and "/docs" in out
    assert key in out
    assert f"curl -X POST http://127.0.0.1:8123{cli.API_MESSAGES_PATH}" in out
    assert isinstance(started.pop("app"), fastapi.FastAPI)
    assert started == {"host": "127.0.0.1", "port": 8123, "log_level": "info", "log_config": None,
                       "start_worker": False}


def test_worker_stops_cleanly_on_sigterm(database):
    process = start_cli_worker(database)
    try:
        assert "started" in process.stdout.readline()
    finally:
        out, err = stop_cli_worker(process, timeout=10)
    assert process.returncode == 0, err
    assert "Worker stopped" in out
