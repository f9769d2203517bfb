from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client


@dataclass
class Caller:
    """A chalice test client bound to one token."""

    client: Client
    token: str

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            **(headers or {}),
        }

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.http.get(path, headers=self._headers(headers))

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.http.delete(path, headers=self._headers(headers))

    def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: str | None = None
    ) -> Any:
        import json

        payload = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.http.post(path, body=payload.encode(), headers=self._headers(headers))

    def put(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        import json

        payload = raw if raw is not None else json.dumps(body)
        return self.client.http.put(path, body=payload.encode(), headers=self._headers(None))

    def patch(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        import json

        payload = raw if raw is not None else json.dumps(body)
        return self.client.http.request("PATCH", path, body=payload.encode(), headers=self._headers(None))


def issue(tenant: str, scopes: list[str]) -> str:
    from chalicelib.models.tokens import TokenCreate
    from chalicelib.tokens import issue_token

    return issue_token(tenant, TokenCreate(name=f"{tenant}-test", scopes=scopes)).token


@pytest.fixture
def client(aws: None) -> Iterator[Client]:
    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def alice(client: Client) -> Caller:
    return Caller(client, issue("alice", ["read", "write", "deploy"]))


@pytest.fixture
def bob(client: Client) -> Caller:
    return Caller(client, issue("bob", ["read", "write", "deploy"]))


@pytest.fixture
def admin(client: Client) -> Caller:
    return Caller(client, issue("ops", ["admin"]))


def body(response: Any) -> Any:
    import json

    return json.loads(response.body) if response.body else None
