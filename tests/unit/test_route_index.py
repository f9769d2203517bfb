"""app.py registers routes from the generated index and imports an API module on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.api import catalog

ROOT = Path(__file__).resolve().parents[2]


def test_route_index_matches_the_routers() -> None:
    assert catalog.INDEX_FILE.read_text() == catalog.render_index()
    assert catalog.main([]) == 0


def test_every_declared_route_is_registered_with_chalice() -> None:
    from app import app
    from chalicelib.api.routing import ROUTES

    catalog.load_all()
    for spec in ROUTES:
        assert spec.method in app.routes[spec.path], (spec.method, spec.path)
    assert set(app.routes["/mcp"]) == {"GET", "POST", "DELETE"}


def test_a_stale_index_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "route_index.py"
    stale.write_text(catalog.render_index().replace('"/health", "GET", "system"', '"/health", "GET", "x"'))
    monkeypatch.setattr(catalog, "INDEX_FILE", stale)
    assert catalog.main([]) == 1
    assert catalog.main(["--write"]) == 0
    assert stale.read_text() == catalog.render_index()


def test_a_route_declared_by_two_modules_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "API_MODULES", ("system", "system_copy"))
    real = catalog.api_module
    monkeypatch.setattr(catalog, "api_module", lambda name: real("system"))
    with pytest.raises(ValueError, match="served by both"):
        catalog.render_index()


PROBE = r"""
import json, sys
from chalice.test import Client
import app
before = sorted(m for m in sys.modules if m.startswith("chalicelib.api."))
with Client(app.app) as client:
    status = client.http.get("/health").status_code
after = sorted(m for m in sys.modules if m.startswith("chalicelib.api."))
print(json.dumps({"before": before, "after": after, "status": status}))
"""


def test_importing_the_app_imports_no_api_module_until_its_route_is_called() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    modules = {"chalicelib.api." + name for name in catalog.API_MODULES}
    assert not modules & set(seen["before"])
    assert modules & set(seen["after"]) == {"chalicelib.api.system"}
