"""A job that checks the job path end to end (outbox -> stream -> RQ -> a worker host): it only
reports who ran it. The local stack's integration tests request it; operators can too."""

from __future__ import annotations

import os
import socket
from typing import Any


def ping(text: str = "") -> dict[str, Any]:
    """Echo `text` with the host and process that ran the job."""
    return {"text": text, "host": socket.gethostname(), "pid": os.getpid()}
