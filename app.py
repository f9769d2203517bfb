"""BorgOS API: the Chalice app. Routes live in chalicelib/api/*; this module only wires them."""

from chalice import Chalice

app = Chalice(app_name="borgos")


@app.route("/health")
def health() -> dict[str, str]:
    from datetime import UTC, datetime

    return {"status": "healthy", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
