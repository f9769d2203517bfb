"""Fixtures and helpers shared by the scan and search API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.store import keys
from chalicelib.store.table import get_store


@pytest.fixture
def roots(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """One project root on this host, an S3 bucket for indexes, a private search cache."""
    from chalicelib import aws as aws_clients
    from chalicelib.config import get_settings, reset_settings
    from chalicelib.search import cache

    root = tmp_path / "projects"
    root.mkdir()
    monkeypatch.setenv("BORGOS_PROJECT_ROOTS", str(root))
    monkeypatch.setenv("BORGOS_SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    reset_settings()
    cache.clear()
    aws_clients.client("s3").create_bucket(Bucket=get_settings().bucket_name)
    yield root
    cache.clear()


def job_requests(tenant: str) -> list[dict[str, Any]]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix="JOB#", limit=500)
    return page.items


def run_scan_jobs(tenant: str, done: set[str]) -> list[dict[str, Any]]:
    """Run the scan jobs requested since the last call, as the host's worker would (in order)."""
    from workers.scan_jobs import scan_project

    results = []
    for request in sorted(job_requests(tenant), key=lambda r: r["requested_at"]):
        if request["job_id"] in done:
            continue
        done.add(request["job_id"])
        assert request["function"] == "workers.scan_jobs.scan_project"
        results.append(scan_project(**request["kwargs"]))
    return results


def events(tenant: str, type_: str) -> list[dict[str, Any]]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix="EVENT#", limit=500)
    return [item for item in page.items if item["type"] == type_]
