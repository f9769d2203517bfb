"""/openapi.json and Swagger UI at /docs, served from the swagger-ui-py package's bundled assets."""

from __future__ import annotations

import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from chalice import Response
from chalice.app import Request

from chalicelib.api.routing import ROUTES, Router

VERSION = "1.0.0"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")
api = Router(__name__, tag="docs")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>BorgOS API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});
</script>
</body></html>"""


def _static_dir() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


@lru_cache(maxsize=1)
def openapi_json() -> str:
    from chalicelib import openapi
    from chalicelib.api.catalog import load_all

    load_all()  # the document lists every route, not just those served so far
    return json.dumps(openapi.build(ROUTES, VERSION))


@api.raw("/openapi.json", ["GET"])
def openapi_document(request: Request, params: dict[str, str]) -> Response:
    return Response(openapi_json(), headers={"Content-Type": "application/json"})


@api.raw("/docs", ["GET"])
def swagger_page(request: Request, params: dict[str, str]) -> Response:
    return Response(PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


@api.raw("/docs/{asset}", ["GET"])
def swagger_asset(request: Request, params: dict[str, str]) -> Response:
    asset = params["asset"]
    if asset not in ASSETS:
        return Response(
            json.dumps({"error": "Not found", "message": f"No asset {asset}", "code": "NOT_FOUND"}),
            status_code=404,
            headers={"Content-Type": "application/json"},
        )
    content_type = mimetypes.guess_type(asset)[0] or "application/octet-stream"
    data = (_static_dir() / asset).read_bytes()
    body: bytes | str = data if asset.endswith(".png") else data.decode()
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "public, max-age=86400"})
