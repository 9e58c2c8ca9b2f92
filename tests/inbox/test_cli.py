"""`mannerly team` and `mannerly faq` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mannerly.cli import app, parse_hours_option
from mannerly.errors import ProblemError


@pytest.fixture
def cli(settings, monkeypatch, tmp_path):
    """Run a command against the test database; returns its result."""
    monkeypatch.setenv("MANNERLY_DATABASE_URL", settings.database_url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        """Invoke and check the exit code."""
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result

    run("demo")
    return run


def test_team_create_and_list(cli):
    cli("team", "create", "Returns", "--hours", "0-4=09:00-18:00", "--hours", "5=10:00-14:00", "--tz", "Asia/Jakarta",
        "--first-response", "30")
    listing = cli("team", "list").output
    assert "Returns" in listing and "Sat" in listing and "Asia/Jakarta" in listing
    assert "ends before it starts" in cli("team", "create", "Night", "--hours", "0=18:00-09:00", code=2).output


def test_faq_add_and_match(cli):
    cli("faq", "add", "--question", "Do you sell gift cards?\\ngift card", "--answer", "Yes, in every branch.")
    assert "gift cards" in cli("faq", "list").output
    assert "answers" in cli("faq", "match", "can I buy a gift card?").output
    assert "too unsure" in cli("faq", "match", "my card was charged twice").output or \
        "shares nothing" in cli("faq", "match", "my card was charged twice").output


def test_hours_option_parsing():
    assert parse_hours_option(["0-1=09:00-12:00", "1=13:00-18:00"]) == {
        "0": [["09:00", "12:00"]], "1": [["09:00", "12:00"], ["13:00", "18:00"]]}
    with pytest.raises(ProblemError):
        parse_hours_option(["weekdays=9-5"])
