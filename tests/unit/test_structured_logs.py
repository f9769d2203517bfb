"""The structured logs survive importing the app: Chalice's `app.log` is the same stdlib logger as
the Powertools Logger's ("borgos"), so the app must leave it alone (an earlier version disabled it,
which silenced every log line in the Lambda)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
from chalice.test import Client
import app
from chalicelib.logs import logger
with Client(app.app) as client:
    assert client.http.get("/health").status_code == 200
logger.warning("probe line", extra={"probe": 1})
"""


def test_a_log_line_is_written_once_as_json_with_the_request_id() -> None:
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "INFO"}
    probe = [sys.executable, "-c", PROBE]
    out = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines() if "probe line" in line]
    assert len(lines) == 1, out.stdout
    (line,) = lines
    assert line["service"] == "borgos" and line["level"] == "WARNING" and line["probe"] == 1
    assert line["request_id"].startswith("req_")
