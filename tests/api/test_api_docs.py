"""docs/api.md lists every path of the OpenAPI schema, so the guide cannot fall behind the API."""

from __future__ import annotations

from pathlib import Path

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_openapi_path_is_in_the_api_guide(api):
    guide = API_DOC.read_text(encoding="utf-8")
    missing = [path for path in api.client.app.openapi()["paths"] if f"`{path}`" not in guide]
    assert missing == []
