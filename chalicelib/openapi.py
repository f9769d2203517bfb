"""The OpenAPI 3.1 document, generated from the declared routes and their pydantic models."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.routing import RouteSpec
from chalicelib.models.common import ErrorBody, Pagination

REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "Invalid request (VALIDATION_ERROR names the field)",
    "401": "Missing or invalid token",
    "403": "The token lacks a scope",
    "404": "Not found (also another tenant's objects)",
    "413": "Body over 1 MiB",
    "429": "Rate limited (see Retry-After)",
    "500": "Unexpected error (the request id finds it in the logs)",
}


def _response_model(response: Any) -> tuple[type[BaseModel] | None, bool]:
    if typing.get_origin(response) is list:
        return typing.get_args(response)[0], True
    return response, False


def build(routes: list[RouteSpec], version: str) -> dict[str, Any]:
    inputs = {spec.body for spec in routes if spec.body}
    outputs: set[Any] = {_response_model(spec.response)[0] for spec in routes if spec.response}
    outputs |= {ErrorBody, Pagination}
    pairs: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in inputs]
    pairs += [(m, "serialization") for m in outputs if m is not None]
    key_map, schema = models_json_schema(pairs, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        operation: dict[str, Any] = {
            "operationId": spec.name,
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": _path_parameters(spec.path) + _query_parameters(spec) + _header_parameters(spec),
            "responses": _responses(spec, key_map),
        }
        if spec.scope is None:
            operation["security"] = []
        else:
            operation["description"] = f"Requires the `{spec.scope}` scope."
        if spec.body:
            ref = key_map[(spec.body, "validation")]
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "BorgOS API", "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in re.findall(r"{(\w+)}", path):
        numeric = name == "id" or name.endswith("_id")
        schema = {"type": "integer", "minimum": 1} if numeric else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the POST again with the same key and body to get the first answer replayed "
    "(24 h); another body with the key is 422, a retry while the first runs is 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _header_parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    # The same condition as routing's: authenticated POSTs (a public route has no tenant to scope keys).
    return [IDEMPOTENCY_KEY] if spec.method == "POST" and spec.scope is not None else []


def _query_parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    if spec.query is None:
        return []
    schema = spec.query.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _responses(spec: RouteSpec, key_map: dict) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    model, is_list = _response_model(spec.response)
    if spec.status == 204 or model is None:
        responses[str(spec.status)] = {"description": "Done"}
    else:
        ref = key_map[(model, "serialization")]
        schema: dict[str, Any] = ref
        if is_list:
            envelope = {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": ref},
                    "pagination": key_map[(Pagination, "serialization")],
                },
                "required": ["data", "pagination"],
            }
            schema = {
                "oneOf": [{"type": "array", "items": ref}, envelope],
                "description": "A bare array without limit/offset/cursor; the envelope with them",
            }
        responses[str(spec.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
    error_ref = key_map[(ErrorBody, "serialization")]
    for status, text in ERRORS.items():
        if spec.scope is None and status in ("401", "403", "429"):
            continue
        responses[status] = {"description": text, "content": {"application/json": {"schema": error_ref}}}
    return responses
