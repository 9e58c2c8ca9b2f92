"""The multi-process deployment: `serve --workers`, the ASGI entry point, and the example process files."""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mannerly_env(settings) -> dict[str, str]:
    """The environment of a Mannerly process on the test's migrated SQLite database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MANNERLY_")}
    env.update(MANNERLY_DATABASE_URL=settings.database_url, MANNERLY_SECRET_KEY="test-secret-key-0123456789")
    return env


def wait_ready(base: str, timeout: float = 30.0) -> httpx.Response:
    """Poll /readyz until it answers 200 (or fail after the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{base} never became ready"
        time.sleep(0.2)


def test_serve_with_two_api_processes_answers_and_stops_on_sigterm(settings):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from mannerly.cli import app; app()", "serve", "--port", str(port), "--no-worker",
         "--workers", "2"],
        env=mannerly_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_ready(base).json()["checks"] == {"database": "ok"}
        # Several requests, spread over both processes, read the same database.
        for _ in range(6):
            assert 'mannerly_outbox_messages{status="pending"} 0.0' in httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_the_asgi_module_builds_the_app_from_the_environment(settings):
    code = ("import mannerly.asgi as entry; "
            "print(entry.app.title, entry.runtime.settings.run_worker_in_process, "
            "sorted(p for p in (getattr(r, 'path', '') for r in entry.app.routes) if p in ('/readyz', '/metrics')))")
    env = mannerly_env(settings) | {"MANNERLY_RUN_WORKER_IN_PROCESS": "false"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Mannerly False ['/metrics', '/readyz']"


def test_compose_file_runs_migrations_once_then_api_and_workers():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["migrate"]["command"] == ["mannerly", "db", "upgrade"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        environment = services[name]["environment"]
        assert environment["MANNERLY_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert environment["MANNERLY_REDIS_URL"].startswith("redis://")
        assert environment["MANNERLY_LOG_FORMAT"] == "json"
    assert "--no-worker" in services["api"]["command"] and "/readyz" in str(services["api"]["healthcheck"])
    assert services["worker"]["command"] == ["mannerly", "worker"]


def test_systemd_units_start_the_api_and_worker_instances():
    units = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # systemd keys are case-sensitive
        parser.read(path)
        units[path.name] = parser
    assert set(units) == {"mannerly-api.service", "mannerly-worker@.service"}
    api, worker = units["mannerly-api.service"], units["mannerly-worker@.service"]
    assert api["Service"]["ExecStartPre"].endswith("mannerly db upgrade")
    assert "serve" in api["Service"]["ExecStart"] and "--no-worker" in api["Service"]["ExecStart"]
    assert worker["Service"]["ExecStart"].endswith("mannerly worker")
    for unit in units.values():
        assert unit["Service"]["KillSignal"] == "SIGTERM"
        assert unit["Service"]["EnvironmentFile"] == "/etc/mannerly/mannerly.env"
        assert unit["Install"]["WantedBy"] == "multi-user.target"
