"""Small jobs about the host itself."""

from __future__ import annotations

import os
import socket


def ping(host: str = "", tenant: str = "") -> dict[str, object]:
    """Answer which host and process ran the job (checks routing to `host.<name>` queues)."""
    return {
        "host": os.environ.get("BORGOS_HOST_NAME", ""),
        "tenant": os.environ.get("BORGOS_HOST_TENANT", ""),
        "asked_host": host,
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
    }
