"""Contact import benchmark: N CSV rows (default 1,000,000) through `mannerly contacts import`.

Generates a CSV of contacts in Korea, Indonesia, Greece and the US written the way people
type numbers (national and international formats, spaces, dashes, brackets), with names,
languages, tags, a consent column and an attribute, plus a few duplicate and broken rows;
migrates a fresh SQLite file, creates a workspace with a "promotions" topic, and runs the
real CLI in a subprocess (its rich progress bar on this terminal). Reports rows per second,
the rows imported / merged / rejected, the consent events recorded, peak memory of the
import process, the machine and its load (`uptime`) before and after.

    .venv/bin/python bench/import_contacts.py                  # 1,000,000 rows
    .venv/bin/python bench/import_contacts.py --rows 100000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = "Bench Import"

FIRST_NAMES = {
    "ko": ["민준", "서연", "지호", "하은", "도윤", "수아"],
    "id": ["Budi", "Siti", "Agus", "Dewi", "Rizky", "Putri"],
    "el": ["Γιώργος", "Μαρία", "Νίκος", "Ελένη", "Δημήτρης", "Κατερίνα"],
    "en": ["James", "Mary", "Robert", "Patricia", "John", "Jennifer"],
}
LAST_NAMES = {"ko": ["김", "이", "박"], "id": ["Santoso", "Wijaya", "Hidayat"],
              "el": ["Παπαδόπουλος", "Ιωάννου", "Γεωργίου"], "en": ["Smith", "Johnson", "Brown"]}


def phone_for(index: int, rng: random.Random) -> tuple[str, str, str]:
    """A unique, valid number for row `index` in one of four typed styles, with its country and language."""
    kind = index % 10
    block = index // 10
    if kind < 3:  # Korea 30%: mobile 010-XXXX-XXXX, unique per serial
        digits = f"{2000_0000 + block * 3 + kind:08d}"
        style = rng.randrange(3)
        text = (f"010-{digits[:4]}-{digits[4:]}" if style == 0 else
                f"+82 10 {digits[:4]} {digits[4:]}" if style == 1 else f"010{digits}")
        return text, "KR", "ko"
    if kind < 6:  # Indonesia 30%: 0812-XXXX-XXXX
        digits = f"{1000_0000 + block * 3 + kind - 3:08d}"
        text = f"0812-{digits[:4]}-{digits[4:]}" if rng.random() < 0.5 else f"+62 812 {digits[:4]} {digits[4:]}"
        return text, "ID", "id"
    if kind < 8:  # Greece 20%: 69X XXX XXXX
        digits = f"{block * 2 + kind - 6:07d}"
        text = f"694 {digits[:3]} {digits[3:]}" if rng.random() < 0.5 else f"+30 694{digits}"
        return text, "GR", "el"
    # US 20%: eight area codes, exchanges from 200 up
    serial = block * 2 + kind - 8
    area = (212, 415, 305, 617, 312, 206, 512, 303)[serial % 8]
    number = serial // 8
    exchange, line = 200 + number // 10000, number % 10000
    text = f"({area}) {exchange:03d}-{line:04d}" if rng.random() < 0.5 else f"+1 {area} {exchange:03d} {line:04d}"
    return text, "US", "en"


def write_csv(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Write the benchmark CSV; returns how many duplicate and broken rows it holds."""
    rng = random.Random(seed)
    duplicates = broken = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("phone,country,first_name,name,language,tags,consent:promotions,city\n")
        for index in range(rows):
            if index and index % 1000 == 0:  # 0.1%: a repeat of an earlier number
                phone, country, language = phone_for(index - 500, random.Random(index))
                duplicates += 1
            elif index % 1000 == 1:  # 0.1%: not a phone number at all
                phone, country, language = "12-ABC", "US", "en"
                broken += 1
            else:
                phone, country, language = phone_for(index, rng)
            first = rng.choice(FIRST_NAMES[language])
            name = f"{rng.choice(LAST_NAMES[language])}{first}" if language == "ko" else \
                f"{first} {rng.choice(LAST_NAMES[language])}"
            consent = ("yes", "no", "")[index % 3]
            tags = "vip;newsletter" if index % 7 == 0 else ""
            handle.write(f'"{phone}",{country},{first},"{name}",{language},{tags},{consent},city{index % 50}\n')
    return {"duplicates": duplicates, "broken": broken}


def uptime() -> str:
    """The `uptime` line (load averages)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def machine() -> dict[str, object]:
    """CPU count and model, memory, Python and SQLite versions."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": memory_gib, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}


def prepare_database(url: str) -> None:
    """Migrate a fresh database and create the workspace with a marketing topic."""
    sys.path.insert(0, str(ROOT / "src"))
    from mannerly.db import make_engine, make_sessionmaker, upgrade_database
    from mannerly.models import Topic
    from mannerly.workspaces.service import create_workspace

    upgrade_database(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        workspace = create_workspace(session, WORKSPACE, brand_names={"en": "Bench"})
        session.add(Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing"))
        session.commit()
    engine.dispose()


def count_rows(database: Path) -> dict[str, int]:
    """Contacts and consent events in the database after the import."""
    with sqlite3.connect(database) as connection:
        return {"contacts": connection.execute("SELECT count(*) FROM contacts").fetchone()[0],
                "consent_events": connection.execute("SELECT count(*) FROM consent_events").fetchone()[0],
                "consents": connection.execute("SELECT count(*) FROM consents").fetchone()[0]}


def main() -> int:
    """Generate, import, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mannerly-import-"))
    csv_path, database = folder / "contacts.csv", folder / "bench.db"
    url = f"sqlite:///{database}"
    started = time.perf_counter()
    shape = write_csv(csv_path, args.rows)
    generate_seconds = time.perf_counter() - started
    prepare_database(url)
    load_before = uptime()
    env = {**os.environ, "MANNERLY_DATABASE_URL": url}
    command = [sys.executable, "-c", "from mannerly.cli import app; app()", "contacts", "import", str(csv_path), "--workspace", WORKSPACE,
               "--actor", "bench"]
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=ROOT, check=False,
                               stdout=subprocess.PIPE if args.json else None, text=True)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results = {
        "rows": args.rows, "file_mib": round(csv_path.stat().st_size / 2**20, 1), **shape,
        "generate_seconds": round(generate_seconds, 1), "import_seconds": round(seconds, 1),
        "rows_per_second": round(args.rows / seconds), "exit_code": completed.returncode,
        "peak_rss_mib": round(peak_mib), **count_rows(database),
        "load_before": load_before, "load_after": uptime(), "machine": machine(),
    }
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for key, value in results.items():
            print(f"{key:>18}: {value}")
    return completed.returncode


if __name__ == "__main__":
    raise SystemExit(main())
