"""Real Docker engine tests: every container and image they create carries a per-session tenant, so
runs on a shared engine never touch each other's work, and everything is removed at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.busybox_image import ensure_image


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/docker/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_engine_ready() -> None:
    from workers import docker_engine

    try:
        docker_engine.client()
    except docker_engine.EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc} (scripts/ensure-docker.sh starts one)")


@pytest.fixture(scope="session")
def busybox_image(docker_engine_ready: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_image(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="session")
def test_tenant() -> Iterator[str]:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    yield tenant
    from workers import docker_deploy, docker_engine

    try:
        for container in docker_deploy.managed_containers(tenant=tenant):
            docker_deploy.remove(container.id)
        images = docker_engine.client().images
        for image in images.list(name=f"borgos/{tenant}-*"):
            for tag in image.tags:
                if tag.startswith(f"borgos/{tenant}-"):
                    images.remove(tag, force=True)  # only this session's tags; shared layers stay
    except docker_engine.EngineUnavailable:
        pass


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return tmp_path / "project"
