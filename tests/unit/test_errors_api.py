from __future__ import annotations

import pytest

from tests.unit.conftest import Caller, body

PROJECT = {"name": "MyProject", "path": "/projects/myproject"}
ERROR = {
    "project_id": 1,
    "error_type": "validation",
    "severity": "warning",
    "message": "Invalid input format",
    "stack_trace": None,
    "context": {"endpoint": "/api/users", "input": {"email": "invalid"}},
}


@pytest.fixture
def project(alice: Caller) -> None:
    assert alice.post("/api/v1/projects", PROJECT).status_code == 201


def test_log_error_replies_as_the_reference(alice: Caller, project: None) -> None:
    response = alice.post("/api/v1/errors", ERROR)
    assert response.status_code == 201
    assert body(response)["message"] == "Error logged successfully"


def test_list_is_newest_first_with_project_name(alice: Caller, project: None) -> None:
    for i, when in enumerate(["2024-01-15T11:45:00Z", "2024-01-15T12:45:00Z", "2024-01-15T10:45:00Z"]):
        alice.post("/api/v1/errors", {**ERROR, "message": f"m{i}", "occurred_at": when})
    errors = body(alice.get("/api/v1/errors"))
    assert [e["message"] for e in errors] == ["m1", "m0", "m2"]
    first = errors[0]
    assert first["project_name"] == "MyProject"
    assert first["deployment_id"] is None
    assert first["occurred_at"] == "2024-01-15T12:45:00Z"
    assert set(first) >= {"id", "project_id", "error_type", "severity", "message", "stack_trace", "context"}


def test_filters_by_severity_and_project(alice: Caller, project: None) -> None:
    alice.post("/api/v1/projects", {**PROJECT, "name": "Other"})
    alice.post("/api/v1/errors", {**ERROR, "severity": "critical", "message": "a"})
    alice.post("/api/v1/errors", {**ERROR, "severity": "warning", "message": "b"})
    alice.post("/api/v1/errors", {**ERROR, "project_id": 2, "severity": "critical", "message": "c"})
    assert [e["message"] for e in body(alice.get("/api/v1/errors?severity=critical"))] == ["c", "a"]
    assert [e["message"] for e in body(alice.get("/api/v1/errors?project_id=1"))] == ["b", "a"]
    response = alice.get("/api/v1/errors?project_id=1&severity=critical")
    assert [e["message"] for e in body(response)] == ["a"]
    assert response.headers["X-Total-Count"] == "1"
    page = body(alice.get("/api/v1/errors?severity=critical&limit=1"))
    assert page["pagination"] == {
        "total": 2,
        "limit": 1,
        "offset": 0,
        "has_more": True,
        "next_cursor": page["pagination"]["next_cursor"],
    }
    second = body(
        alice.get(f"/api/v1/errors?severity=critical&limit=1&cursor={page['pagination']['next_cursor']}")
    )
    assert [e["message"] for e in second["data"]] == ["a"]


def test_default_limit_is_100(alice: Caller, project: None) -> None:
    from chalicelib.api import errors as errors_api

    assert errors_api.DEFAULT_PAGE == 100


def test_errors_of_another_tenant_are_invisible(alice: Caller, bob: Caller, project: None) -> None:
    alice.post("/api/v1/errors", ERROR)
    assert body(bob.get("/api/v1/errors")) == []
    assert bob.get("/api/v1/errors?project_id=1").status_code == 404
    response = bob.post("/api/v1/errors", ERROR)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**ERROR, "severity": "fatal"}, "severity"),
        ({**ERROR, "project_id": "one"}, "project_id"),
        ({**ERROR, "message": ""}, "message"),
        ({k: v for k, v in ERROR.items() if k != "error_type"}, "error_type"),
        ({**ERROR, "context": "text"}, "context"),
        ({**ERROR, "extra": 1}, "extra"),
    ],
)
def test_bad_error_bodies_are_400_and_write_nothing(
    alice: Caller, project: None, payload: dict, field: str
) -> None:
    response = alice.post("/api/v1/errors", payload)
    assert response.status_code == 400
    assert field in [d["field"] for d in body(response)["details"]]
    assert body(alice.get("/api/v1/errors")) == []


def test_unknown_severity_filter_is_400(alice: Caller) -> None:
    response = alice.get("/api/v1/errors?severity=fatal")
    assert response.status_code == 400 and body(response)["details"][0]["field"] == "severity"


def test_error_for_missing_project_is_404_and_writes_nothing(alice: Caller) -> None:
    response = alice.post("/api/v1/errors", {**ERROR, "project_id": 99})
    assert response.status_code == 404
    assert body(response)["message"] == "Project with id 99 not found"
    assert body(alice.get("/api/v1/errors")) == []


def test_status_counts_projects_and_recent_errors(alice: Caller, project: None) -> None:
    alice.post("/api/v1/errors", ERROR)
    alice.post("/api/v1/errors", {**ERROR, "occurred_at": "2020-01-01T00:00:00Z"})
    status = body(alice.get("/api/v1/status"))
    assert status["total_projects"] == 1
    assert status["recent_errors"] == 1
    assert status["active_deployments"] == 0
    for key in ("cpu_percent", "memory_percent", "disk_percent"):
        assert 0 <= status[key] <= 100
    assert status["uptime_seconds"] > 0
