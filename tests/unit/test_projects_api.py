from __future__ import annotations

import pytest

from tests.unit.conftest import Caller, body

NEW = {
    "name": "NewProject",
    "path": "/projects/newproject",
    "project_type": "api",
    "tech_stack": ["fastapi", "postgresql"],
}


def test_create_matches_reference_shape_and_defaults(alice: Caller) -> None:
    response = alice.post("/api/v1/projects", NEW)
    assert response.status_code == 201
    project = body(response)
    assert project["id"] == 1
    assert project["name"] == "NewProject"
    assert project["tech_stack"] == ["fastapi", "postgresql"]
    assert (project["health_score"], project["vibe_score"], project["eco_score"]) == (0, 75, 80)
    assert project["is_active"] is True
    assert project["created_at"].endswith("Z")
    assert response.headers["Location"] == "/api/v1/projects/1"


def test_ids_are_per_tenant_and_increasing(alice: Caller, bob: Caller) -> None:
    assert [body(alice.post("/api/v1/projects", {**NEW, "name": f"a{i}"}))["id"] for i in range(3)] == [
        1,
        2,
        3,
    ]
    assert body(bob.post("/api/v1/projects", NEW))["id"] == 1


def test_get_by_id_has_errors_metadata_and_deployments(alice: Caller) -> None:
    alice.post("/api/v1/projects", NEW)
    project = body(alice.get("/api/v1/projects/1"))
    assert project["errors"] == [] and project["metadata"] == {} and project["deployments"] == []


def test_another_tenants_project_is_not_found(alice: Caller, bob: Caller) -> None:
    alice.post("/api/v1/projects", NEW)
    response = bob.get("/api/v1/projects/1")
    assert response.status_code == 404
    assert body(response)["message"] == "Project with id 1 not found"
    assert body(response)["code"] == "NOT_FOUND"
    assert body(bob.get("/api/v1/projects")) == []
    assert bob.delete("/api/v1/projects/1").status_code == 404
    assert body(alice.get("/api/v1/projects/1"))["name"] == "NewProject"


def test_list_without_params_is_a_bare_array_with_total_header(alice: Caller) -> None:
    for i in range(3):
        alice.post("/api/v1/projects", {**NEW, "name": f"p{i}"})
    response = alice.get("/api/v1/projects")
    assert [p["name"] for p in body(response)] == ["p0", "p1", "p2"]
    assert response.headers["X-Total-Count"] == "3"
    assert "Link" not in response.headers


def test_list_with_limit_offset_is_the_envelope(alice: Caller) -> None:
    for i in range(5):
        alice.post("/api/v1/projects", {**NEW, "name": f"p{i}"})
    page = body(alice.get("/api/v1/projects?limit=2&offset=2"))
    assert [p["name"] for p in page["data"]] == ["p2", "p3"]
    assert page["pagination"]["total"] == 5
    assert page["pagination"]["limit"] == 2 and page["pagination"]["offset"] == 2
    assert page["pagination"]["has_more"] is True


def test_cursor_walks_every_item_once(alice: Caller) -> None:
    for i in range(7):
        alice.post("/api/v1/projects", {**NEW, "name": f"p{i}"})
    seen, cursor = [], None
    while True:
        url = "/api/v1/projects?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = body(alice.get(url))
        seen += [p["name"] for p in page["data"]]
        assert page["pagination"]["total"] == 7
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            break
    assert seen == [f"p{i}" for i in range(7)]


def test_bare_list_gives_a_next_link_when_more_remain(alice: Caller) -> None:
    from chalicelib.api import projects as projects_api

    original = projects_api.DEFAULT_PAGE
    projects_api.DEFAULT_PAGE = 2
    try:
        for i in range(3):
            alice.post("/api/v1/projects", {**NEW, "name": f"p{i}"})
        response = alice.get("/api/v1/projects")
        assert len(body(response)) == 2
        assert 'rel="next"' in response.headers["Link"] and "cursor=" in response.headers["Link"]
    finally:
        projects_api.DEFAULT_PAGE = original


def test_filters_active_and_tech_stack_combine(alice: Caller) -> None:
    alice.post("/api/v1/projects", {**NEW, "name": "a", "tech_stack": ["python"]})
    alice.post("/api/v1/projects", {**NEW, "name": "b", "tech_stack": ["python"], "is_active": False})
    alice.post("/api/v1/projects", {**NEW, "name": "c", "tech_stack": ["node"]})
    assert [p["name"] for p in body(alice.get("/api/v1/projects?active=true"))] == ["a", "c"]
    assert [p["name"] for p in body(alice.get("/api/v1/projects?tech_stack=python"))] == ["a", "b"]
    response = alice.get("/api/v1/projects?active=true&tech_stack=python")
    assert [p["name"] for p in body(response)] == ["a"]
    assert response.headers["X-Total-Count"] == "1"
    assert body(alice.get("/api/v1/projects?active=false&limit=10"))["pagination"]["total"] == 1


def test_patch_changes_fields_and_active_counts(alice: Caller) -> None:
    alice.post("/api/v1/projects", NEW)
    updated = body(alice.patch("/api/v1/projects/1", {"name": "Renamed", "is_active": False}))
    assert updated["name"] == "Renamed" and updated["is_active"] is False
    assert body(alice.get("/api/v1/projects?active=false"))[0]["name"] == "Renamed"
    assert body(alice.get("/api/v1/projects?active=true")) == []


def test_delete_removes_and_counts(alice: Caller) -> None:
    alice.post("/api/v1/projects", NEW)
    assert alice.delete("/api/v1/projects/1").status_code == 204
    assert alice.get("/api/v1/projects/1").status_code == 404
    assert alice.get("/api/v1/projects").headers["X-Total-Count"] == "0"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**NEW, "name": ""}, "name"),
        ({**NEW, "tech_stack": "python"}, "tech_stack"),
        ({**NEW, "path": "relative/path"}, "path"),
        ({**NEW, "path": "/projects/../etc"}, "path"),
        ({**NEW, "colour": "blue"}, "colour"),
        ({"path": "/p"}, "name"),
        ({**NEW, "is_active": "maybe"}, "is_active"),
    ],
)
def test_bad_project_bodies_are_400_naming_the_field_and_write_nothing(
    alice: Caller, payload: dict, field: str
) -> None:
    response = alice.post("/api/v1/projects", payload)
    assert response.status_code == 400
    error = body(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in error["details"]]
    assert error["request_id"].startswith("req_")
    assert body(alice.get("/api/v1/projects")) == []


def test_malformed_json_is_400(alice: Caller) -> None:
    response = alice.post("/api/v1/projects", raw='{"name": ')
    assert response.status_code == 400
    assert body(response)["details"][0]["field"] == "body"
    assert body(alice.get("/api/v1/projects")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=100000", "limit"),
        ("offset=-5", "offset"),
        ("active=perhaps", "active"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_parameters_are_400(alice: Caller, query: str, field: str) -> None:
    response = alice.get(f"/api/v1/projects?{query}")
    assert response.status_code == 400
    assert body(response)["details"][0]["field"] == field


def test_bad_cursor_is_400_bad_cursor(alice: Caller) -> None:
    for cursor in ("not-base64!!", "eyJmb28iOiJiYXIifQ", "W10"):
        response = alice.get(f"/api/v1/projects?cursor={cursor}")
        assert response.status_code == 400
        assert body(response)["code"] == "BAD_CURSOR"


def test_non_integer_ids_are_400(alice: Caller) -> None:
    for bad in ("abc", "0", "-1", "1.5"):
        response = alice.get(f"/api/v1/projects/{bad}")
        assert response.status_code == 400, bad
        assert body(response)["details"][0]["field"] == "id"


def test_patch_with_nothing_or_nulls_is_400_and_changes_nothing(alice: Caller) -> None:
    alice.post("/api/v1/projects", NEW)
    assert alice.patch("/api/v1/projects/1", {}).status_code == 400
    response = alice.patch("/api/v1/projects/1", {"name": None})
    assert response.status_code == 400 and body(response)["details"][0]["field"] == "name"
    assert body(alice.get("/api/v1/projects/1"))["name"] == "NewProject"


def test_project_paths_must_lie_under_configured_roots(
    alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("BORGOS_PROJECT_ROOTS", "/projects:/srv/code")
    monkeypatch.setenv("BORGOS_STAGE", "prod")
    reset_settings()
    assert alice.post("/api/v1/projects", {**NEW, "path": "/etc/passwd"}).status_code == 400
    assert alice.post("/api/v1/projects", {**NEW, "path": "/projectsx/a"}).status_code == 400
    assert alice.post("/api/v1/projects", {**NEW, "path": "/srv/code/app"}).status_code == 201
    assert len(body(alice.get("/api/v1/projects"))) == 1  # the refused ones wrote nothing
    # The local stage (a developer's machine) takes any absolute path; its scanner refuses it.
    monkeypatch.setenv("BORGOS_STAGE", "local")
    reset_settings()
    assert alice.post("/api/v1/projects", {**NEW, "name": "mine", "path": "/etc/app"}).status_code == 201
