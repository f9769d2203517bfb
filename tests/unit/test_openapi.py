from __future__ import annotations

import json

from chalice.test import Client

from tests.unit.conftest import body


def test_openapi_lists_every_route_with_schemas_and_security(client: Client) -> None:
    from chalicelib.api.routing import ROUTES

    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.body)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    for spec in ROUTES:
        assert spec.method.lower() in document["paths"][spec.path], (spec.method, spec.path)
    create = document["paths"]["/api/v1/projects"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"name", "path"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    listing = document["paths"]["/api/v1/projects"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"active", "tech_stack", "limit", "offset", "cursor"}
    assert document["paths"]["/health"]["get"]["security"] == []
    create_headers = [p["name"] for p in create["parameters"] if p["in"] == "header"]
    assert create_headers == ["Idempotency-Key"]
    assert not [p for p in listing["parameters"] if p["in"] == "header"]
    errors = document["paths"]["/api/v1/errors"]["get"]
    assert "404" in errors["responses"] and "429" in errors["responses"]


def test_swagger_ui_is_served_from_bundled_assets(client: Client) -> None:
    page = client.http.get("/docs")
    assert page.status_code == 200 and b"/docs/swagger-ui-bundle.js" in page.body
    script = client.http.get("/docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.body) > 100_000
    assert script.headers["Content-Type"] in ("application/javascript", "text/javascript")
    missing = client.http.get("/docs/../../etc/passwd")
    assert missing.status_code in (403, 404)
    assert client.http.get("/docs/secret.txt").status_code == 404


def test_unknown_asset_answers_in_the_envelope(client: Client) -> None:
    assert body(client.http.get("/docs/nothing"))["code"] == "NOT_FOUND"
