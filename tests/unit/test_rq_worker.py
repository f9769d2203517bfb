from __future__ import annotations

import importlib

from workers import rq_worker


def test_every_preloaded_job_module_exists() -> None:
    """A renamed job module would make every worker fail at start: keep the preload list true."""
    for module in rq_worker.PRELOAD:
        assert importlib.import_module(module).__name__ == module
