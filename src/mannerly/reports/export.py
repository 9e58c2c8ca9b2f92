"""Report tables as CSV: one header row, plain values, no spreadsheet formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheets; a leading quote disarms it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """A table as shown on the reports page: a title, column names and rows of plain values."""

    name: str  # used in the CSV file name
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def csv_cell(value: Any) -> str:
    """One value as CSV text: dates in ISO form, None empty, rates as decimals, formulas disarmed."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A CSV document (comma-separated, CRLF line ends as RFC 4180 says) with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()


def table_csv(table: Table) -> str:
    """A report table as CSV."""
    return to_csv(table.columns, table.rows)
