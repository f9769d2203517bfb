"""Search through the API: code search over scanned projects, project ranking, the warm cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scan_trees import NODE_APP, PYTHON_WEB_APP, write
from tests.unit.conftest import Caller, body
from tests.unit.scan_support import job_requests, roots, run_scan_jobs

__all__ = ["roots"]


@pytest.fixture
def scanned(alice: Caller, roots: Path) -> dict[str, int]:
    """The Python shop and the Node dashboard, registered and scanned."""
    ids = {}
    for name, tree, description in (
        ("shop", PYTHON_WEB_APP, "Online shop"),
        ("dashboard", NODE_APP, "Metrics dashboard in the browser"),
    ):
        response = alice.post(
            "/api/v1/projects",
            {"name": name, "path": str(write(roots / name, tree)), "description": description},
        )
        ids[name] = body(response)["id"]
        alice.post(f"/api/v1/projects/{ids[name]}/scan")
    run_scan_jobs("alice", set())
    return ids


def test_code_search_returns_the_reference_shape_best_first(
    alice: Caller, roots: Path, scanned: dict
) -> None:
    response = alice.post("/api/v1/search/code?query=authentication")
    assert response.status_code == 200
    hits = body(response)
    assert set(hits[0]) == {"file", "line", "content", "relevance_score"}
    # "authentication" finds "authenticate" (porter stems): the docstring first (shorter line)
    assert [(h["file"], h["line"], h["content"]) for h in hits[:2]] == [
        (f"{roots}/shop/app/auth.py", 1, '"""Authentication helpers."""'),
        (f"{roots}/shop/app/auth.py", 7, "def authenticate_user(username, password):"),
    ]
    scores = [hit["relevance_score"] for hit in hits]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_code_search_spans_projects_or_keeps_to_one(alice: Caller, roots: Path, scanned: dict) -> None:
    everywhere = body(alice.post("/api/v1/search/code?query=express&limit=50"))
    assert {hit["file"] for hit in everywhere} == {
        f"{roots}/dashboard/package.json",
        f"{roots}/dashboard/src/server.ts",
    }
    camel = body(alice.post("/api/v1/search/code?query=http+request"))
    assert camel[0]["content"] == "export function parseHTTPRequest(raw: string) {"
    only_shop = body(alice.post(f"/api/v1/search/code?query=express&project_id={scanned['shop']}"))
    assert only_shop == []
    limited = body(alice.post("/api/v1/search/code?query=user&limit=2"))
    assert len(limited) == 2


def test_code_search_never_crosses_tenants(alice: Caller, bob: Caller, scanned: dict) -> None:
    assert body(bob.post("/api/v1/search/code?query=authenticate")) == []
    assert bob.post(f"/api/v1/search/code?query=x&project_id={scanned['shop']}").status_code == 404


def test_search_input_is_validated(alice: Caller, roots: Path) -> None:
    for query in ("", "query=", "query=a&limit=0", "query=a&limit=1000", "query=a&project_id=x", "q=a"):
        response = alice.post(f"/api/v1/search/code?{query}")
        assert response.status_code == 400, query
    assert alice.post("/api/v1/search/projects?query=a&limit=0").status_code == 400


def test_project_search_ranks_by_name_description_stack_and_readme(alice: Caller, scanned: dict) -> None:
    hits = body(alice.post("/api/v1/search/projects?query=python+web+app"))
    assert hits[0]["id"] == scanned["shop"]
    assert set(hits[0]) == {"id", "name", "path", "relevance_score", "tech_stack"}
    assert hits[0]["tech_stack"][0] == "python"
    by_stack = body(alice.post("/api/v1/search/projects?query=react"))
    assert [hit["id"] for hit in by_stack] == [scanned["dashboard"]]
    by_readme = body(alice.post("/api/v1/search/projects?query=vintage+cameras"))
    assert [hit["id"] for hit in by_readme] == [scanned["shop"]]
    by_name = body(alice.post("/api/v1/search/projects?query=dashboard&limit=1"))
    assert [hit["id"] for hit in by_name] == [scanned["dashboard"]]
    assert 0 < by_name[0]["relevance_score"] < 1


def test_the_warm_cache_notices_a_newer_index(alice: Caller, roots: Path, scanned: dict) -> None:
    from chalicelib.search import cache

    assert body(alice.post("/api/v1/search/code?query=refundOrder")) == []
    (roots / "shop" / "app" / "refunds.py").write_text("def refundOrder(order):\n    return order\n")
    already_run = {request["job_id"] for request in job_requests("alice")}
    alice.post(f"/api/v1/projects/{scanned['shop']}/scan")
    run_scan_jobs("alice", already_run)
    hits = body(alice.post("/api/v1/search/code?query=refundOrder"))
    assert hits[0]["file"] == f"{roots}/shop/app/refunds.py" and hits[0]["line"] == 1
    assert len(cache._open) == 2  # one open index per project, swapped in place


def test_a_project_never_scanned_is_simply_not_searched(alice: Caller, roots: Path) -> None:
    alice.post("/api/v1/projects", {"name": "fresh", "path": str(roots / "fresh")})
    assert body(alice.post("/api/v1/search/code?query=anything")) == []
    assert [hit["name"] for hit in body(alice.post("/api/v1/search/projects?query=fresh"))] == ["fresh"]


def test_the_cache_stays_within_its_size_limit(
    alice: Caller, roots: Path, scanned: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings
    from chalicelib.search import cache

    cache.clear()
    monkeypatch.setenv("BORGOS_SEARCH_CACHE_MAX_BYTES", "1")
    reset_settings()
    hits = body(alice.post("/api/v1/search/code?query=user+express&limit=50"))
    assert {Path(hit["file"]).relative_to(roots).parts[0] for hit in hits} == {"shop", "dashboard"}
    assert len(cache._open) == 1  # the other index was closed and its file removed
    assert len(list((roots.parent / "cache").glob("*.sqlite"))) == 1


def test_scores_compare_across_projects_of_any_size(alice: Caller, roots: Path) -> None:
    """Terms are weighed by their rarity over every project searched: the one exact line of a
    two-line project is not marked down for the project's size (per project, its terms would
    weigh nothing: every line of it holds them)."""
    filler = "".join(f"value_{j} = compute(item_{j})\n" for j in range(20))
    big = {f"lib/module_{i}.py": filler for i in range(20)}
    big["tests/test_login.py"] = 'def test_login():\n    assert not authenticate_user("alice", "nope")\n'
    small = {"auth.py": "def authenticate_user(username, password):\n    return username == password\n"}
    for name, tree in (("big", big), ("small", small)):
        response = alice.post("/api/v1/projects", {"name": name, "path": str(write(roots / name, tree))})
        alice.post(f"/api/v1/projects/{body(response)['id']}/scan")
    run_scan_jobs("alice", set())
    hits = body(alice.post("/api/v1/search/code?query=authenticate_user"))
    assert [(hit["file"], hit["line"]) for hit in hits] == [
        (f"{roots}/small/auth.py", 1),  # shorter than the big project's line: first
        (f"{roots}/big/tests/test_login.py", 2),
    ]
    assert hits[0]["relevance_score"] > hits[1]["relevance_score"] > 0.3
