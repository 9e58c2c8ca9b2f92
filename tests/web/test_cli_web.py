"""The CLI's web UI parts: `mannerly user create` and the demo admin login printed by serve --demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from mannerly.cli import app
from mannerly.models import User
from mannerly.web.auth import DEMO_ADMIN_EMAIL, verify_password


@pytest.fixture
def database(settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI reaches the test database through MANNERLY_DATABASE_URL."""
    monkeypatch.setenv("MANNERLY_DATABASE_URL", settings.database_url)
    return settings.database_url


def users(database: str) -> list[User]:
    """Every user row."""
    engine = create_engine(database)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(User).order_by(User.id)))
    finally:
        engine.dispose()


def test_user_create_reads_the_password_from_stdin(database) -> None:
    """A user is created with an argon2 hash of the password given on stdin; mistakes exit with 2."""
    runner = CliRunner()
    assert runner.invoke(app, ["demo"]).exit_code == 0
    result = runner.invoke(app, ["user", "create", "--workspace", "Demo Shop", "--email", "Agent@Shop.test",
                                 "--role", "agent", "--password-stdin"], input="long secret phrase\n")
    assert result.exit_code == 0, result.output
    assert "agent@shop.test" in result.output
    created = [user for user in users(database) if user.email == "agent@shop.test"]
    assert len(created) == 1 and created[0].role == "agent"
    assert verify_password(created[0].password_hash, "long secret phrase")
    for arguments, stdin in ((["--role", "boss"], "long secret phrase\n"), (["--role", "agent"], "short\n"),
                             (["--role", "agent", "--workspace", "Nope"], "long secret phrase\n")):
        failed = runner.invoke(app, ["user", "create", "--email", "x@shop.test", "--password-stdin", *arguments],
                               input=stdin)
        assert failed.exit_code == 2, failed.output


def test_demo_prints_the_admin_login_again(database, settings) -> None:
    """`mannerly demo` creates the demo admin once and shows the same password on the next run."""
    runner = CliRunner()
    first = runner.invoke(app, ["demo"])
    second = runner.invoke(app, ["demo"])
    assert first.exit_code == second.exit_code == 0
    password = (Path(settings.database_url.removeprefix("sqlite:///")).parent / "demo-admin-password").read_text().strip()
    assert DEMO_ADMIN_EMAIL in first.output and password in first.output and password in second.output
    [admin] = [user for user in users(database) if user.email == DEMO_ADMIN_EMAIL]
    assert admin.role == "admin" and verify_password(admin.password_hash, password)
