from __future__ import annotations

import time

import pytest
from chalice.test import Client

from tests.unit.conftest import Caller, body, issue


def test_health_is_public(client: Client) -> None:
    response = client.http.get("/health")
    assert response.status_code == 200
    assert body(response)["status"] == "healthy"
    assert response.headers["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer borg_nope", "Bearer a.b.c"])
def test_missing_or_bad_tokens_are_401(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.http.get("/api/v1/projects", headers=headers)
    assert response.status_code == 401
    assert body(response) == {
        "error": "Unauthorized",
        "message": "Invalid or missing authentication token",
        "code": "UNAUTHORIZED",
        "request_id": response.headers["X-Request-Id"],
    }


def test_read_only_token_cannot_write(client: Client) -> None:
    reader = Caller(client, issue("alice", ["read"]))
    response = reader.post("/api/v1/projects", {"name": "x", "path": "/x"})
    assert response.status_code == 403
    assert body(response)["code"] == "INSUFFICIENT_SCOPE"
    assert body(reader.get("/api/v1/projects")) == []


def test_admin_issues_tokens_for_a_tenant_shown_once(admin: Caller, client: Client) -> None:
    response = admin.post("/api/v1/tokens", {"name": "ci", "scopes": ["read", "write"], "tenant": "carol"})
    assert response.status_code == 201
    issued = body(response)
    assert issued["token"].startswith("borg_") and issued["tenant"] == "carol"
    carol = Caller(client, issued["token"])
    assert carol.post("/api/v1/projects", {"name": "c", "path": "/c"}).status_code == 201
    listed = body(carol.get("/api/v1/tokens"))
    assert [t["name"] for t in listed] == ["ci"]
    assert "token" not in listed[0] and "hash" not in listed[0]


def test_non_admin_cannot_issue_tokens(alice: Caller) -> None:
    response = alice.post("/api/v1/tokens", {"name": "x", "scopes": ["admin"], "tenant": "alice"})
    assert response.status_code == 403


def test_revoked_token_stops_working_at_once(client: Client) -> None:
    token = issue("alice", ["read", "write"])
    caller = Caller(client, token)
    token_id = body(caller.get("/api/v1/tokens"))[0]["id"]
    assert caller.delete(f"/api/v1/tokens/{token_id}").status_code == 204
    assert caller.get("/api/v1/projects").status_code == 401


def test_a_tenant_cannot_revoke_another_tenants_token(alice: Caller, bob: Caller) -> None:
    bob_token_id = body(bob.get("/api/v1/tokens"))[0]["id"]
    alice_ids = [t["id"] for t in body(alice.get("/api/v1/tokens"))]
    assert bob_token_id in alice_ids  # ids are per tenant: the same number names a different token
    assert alice.delete("/api/v1/tokens/999").status_code == 404
    assert bob.get("/api/v1/projects").status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "tenant": "Bad Tenant"},
    ],
)
def test_bad_token_requests_are_400(admin: Caller, payload: dict) -> None:
    response = admin.post("/api/v1/tokens", payload)
    assert response.status_code == 400
    assert len(body(admin.get("/api/v1/tokens"))) == 1


def _jwt(secret: str, **claims: object) -> str:
    import jwt

    base = {"sub": "user-1", "exp": int(time.time()) + 60, "iss": "https://id.example", "aud": "borgos"}
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


@pytest.fixture
def jwt_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("BORGOS_JWT_HS256_SECRET", "s3cret-for-tests-only-0123456789abcdef")
    monkeypatch.setenv("BORGOS_JWT_ISSUER", "https://id.example")
    monkeypatch.setenv("BORGOS_JWT_AUDIENCE", "borgos")
    reset_settings()


def test_jwt_with_tenant_and_scopes(client: Client, jwt_config: None) -> None:
    secret = "s3cret-for-tests-only-0123456789abcdef"
    caller = Caller(client, _jwt(secret, tenant="alice", scope="read write"))
    assert caller.post("/api/v1/projects", {"name": "j", "path": "/j"}).status_code == 201
    assert body(caller.get("/api/v1/projects"))[0]["name"] == "j"


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example"},
        {"aud": "other"},
        {"exp": int(time.time()) - 10},
        {"tenant": "Bad Tenant!"},
    ],
)
def test_jwt_with_wrong_issuer_audience_expiry_or_tenant_is_401(
    client: Client, jwt_config: None, claims: dict
) -> None:
    caller = Caller(client, _jwt("s3cret-for-tests-only-0123456789abcdef", **{"tenant": "alice", **claims}))
    assert caller.get("/api/v1/projects").status_code == 401


def test_jwt_signed_with_another_key_is_401(client: Client, jwt_config: None) -> None:
    caller = Caller(client, _jwt("another-secret-another-secret-0123456789", tenant="alice"))
    assert caller.get("/api/v1/projects").status_code == 401


def test_body_over_one_mib_is_413(alice: Caller) -> None:
    response = alice.post(
        "/api/v1/projects", {"name": "big", "path": "/big", "description": "x" * (1024 * 1024)}
    )
    assert response.status_code == 413
    assert body(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert body(alice.get("/api/v1/projects")) == []


def test_unexpected_failure_is_500_without_internals(alice: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import projects

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(projects, "get_project", explode)
    response = alice.get("/api/v1/projects/1")
    assert response.status_code == 500
    error = body(response)
    assert error["code"] == "INTERNAL" and "secret" not in response.body.decode()
    assert error["request_id"] == response.headers["X-Request-Id"]


def test_bootstrap_token_is_kept_while_valid_and_replaced_when_revoked(client: Client) -> None:
    from chalicelib.tokens import bootstrap_admin_token

    first = bootstrap_admin_token(None)
    assert bootstrap_admin_token(first) == first
    caller = Caller(client, first)
    assert (
        caller.post("/api/v1/tokens", {"name": "x", "scopes": ["read"], "tenant": "dave"}).status_code == 201
    )
    own = next(t for t in body(caller.get("/api/v1/tokens")) if t["name"] == "local-admin")
    caller.delete(f"/api/v1/tokens/{own['id']}")
    second = bootstrap_admin_token(first)
    assert second != first and Caller(client, second).get("/api/v1/tokens").status_code == 200
    assert bootstrap_admin_token("borg_not-a-token") not in (first, second)
