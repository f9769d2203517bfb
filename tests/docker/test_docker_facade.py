"""The engine façade against a real Docker engine: build, run with limits, health, rollout, prune."""

from __future__ import annotations

import itertools
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.support.busybox_image import write_project
from workers import docker_deploy, docker_engine, docker_images
from workers.docker_spec import ContainerSpec

pytestmark = pytest.mark.docker
_ids = itertools.count(10_000)  # clear of the ids the deployments tests get from the store


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode()).strip()


def spec_for(
    tenant: str, image: str, deployment_id: int, revision: int = 1, **extra: object
) -> ContainerSpec:
    fields: dict[str, object] = {
        "name": f"borgos-{tenant}-{deployment_id}",
        "image": image,
        "tenant": tenant,
        "deployment_id": deployment_id,
        "revision": revision,
        "host": "hosta",
        "host_port": docker_deploy.free_port(),
        "container_port": 8080,
        "health_path": "/health",
        **extra,
    }
    return ContainerSpec.model_validate(fields)


def build(tmp: Path, tenant: str, deployment_id: int, revision: int, **project: object) -> str:
    context = write_project(tmp / f"d{deployment_id}r{revision}", **project)  # type: ignore[arg-type]
    return docker_images.build_image(
        context, tenant=tenant, deployment_id=deployment_id, revision=revision
    ).tag


def test_build_and_run_with_limits_labels_and_init(
    busybox_image: str, test_tenant: str, tmp_path: Path
) -> None:
    deployment = next(_ids)
    lines: list[str] = []
    context = write_project(tmp_path / "p", marker="built")
    built = docker_images.build_image(
        context, tenant=test_tenant, deployment_id=deployment, revision=1, on_log=lines.append
    )
    assert built.image_id.startswith("sha256:") and built.tag == f"borgos/{test_tenant}-d{deployment}:r1"
    assert any("COPY" in line for line in lines) and "COPY" in built.log
    spec = ContainerSpec.with_limits(
        cpu_limit="0.5",
        memory_limit="64m",
        **spec_for(test_tenant, built.tag, deployment, environment={"GREETING": "hi"}).model_dump(
            exclude={"nano_cpus", "mem_limit"}
        ),
    )
    phases: list[str] = []
    result = docker_deploy.rollout(
        spec, current_container_id=None, health_timeout=20, on_phase=lambda p, d: phases.append(p)
    )
    assert result.healthy, result.reason
    assert result.image_id == built.image_id and result.container_id
    assert phases == ["starting", "health_check", "healthy"]
    assert fetch(spec.host_port, "/marker") == "built"
    attrs = docker_engine.client().containers.get(result.container_id).attrs
    host_config = attrs["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["Memory"] == 64 * 1024**2
    assert host_config["Init"] is True
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    assert "GREETING=hi" in attrs["Config"]["Env"]
    labels = attrs["Config"]["Labels"]
    assert labels["borgos.tenant"] == test_tenant
    assert labels["borgos.deployment"] == str(deployment)
    assert labels["borgos.revision"] == "1"
    assert docker_deploy.port_bound(spec.host_port)
    assert docker_deploy.state(result.container_id) == "running"


def test_broken_dockerfile_fails_with_the_build_log(
    docker_engine_ready: None, test_tenant: str, tmp_path: Path
) -> None:
    context = write_project(tmp_path / "broken", broken=True)
    with pytest.raises(docker_images.ImageError) as failure:
        docker_images.build_image(context, tenant=test_tenant, deployment_id=next(_ids), revision=1)
    assert "build failed" in failure.value.reason
    assert "missing-dir" in failure.value.log


def test_missing_dockerfile_is_a_clear_error(
    docker_engine_ready: None, test_tenant: str, tmp_path: Path
) -> None:
    with pytest.raises(docker_images.ImageError, match="no Dockerfile"):
        docker_images.build_image(tmp_path, tenant=test_tenant, deployment_id=1, revision=1)


def test_failing_health_check_removes_the_container(
    busybox_image: str, test_tenant: str, tmp_path: Path
) -> None:
    deployment = next(_ids)
    image = build(tmp_path, test_tenant, deployment, 1, healthy=False)
    result = docker_deploy.rollout(
        spec_for(test_tenant, image, deployment), current_container_id=None, health_timeout=4
    )
    assert not result.healthy and result.container_id is None
    assert "HTTP 404" in result.reason, result.reason
    assert "response:404" in result.logs  # httpd -v logged the probes before the container went
    assert docker_deploy.managed_containers(tenant=test_tenant, deployment_id=deployment) == []


def test_exiting_container_fails_fast(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    spec = spec_for(test_tenant, busybox_image, deployment, command=["sh", "-c", "echo bye; exit 3"])
    result = docker_deploy.rollout(spec, current_container_id=None, health_timeout=30)
    assert not result.healthy
    # "with code 3" when the poll sees it down; a fast restart may only show up as a restart count.
    assert result.reason == "container exited with code 3" or result.reason.startswith("container exited and")
    assert "bye" in result.logs


def test_tcp_check_without_health_path(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    spec = spec_for(test_tenant, busybox_image, deployment, health_path=None)
    result = docker_deploy.rollout(spec, current_container_id=None, health_timeout=20)
    assert result.healthy and result.reason.startswith("TCP")


def test_same_port_redeploy_swaps_and_retires_the_old(
    busybox_image: str, test_tenant: str, tmp_path: Path
) -> None:
    deployment = next(_ids)
    first_spec = spec_for(test_tenant, build(tmp_path, test_tenant, deployment, 1, marker="one"), deployment)
    first = docker_deploy.rollout(first_spec, current_container_id=None, health_timeout=20)
    assert first.healthy
    second_spec = first_spec.model_copy(
        update={"revision": 2, "image": build(tmp_path, test_tenant, deployment, 2, marker="two")}
    )
    phases: list[str] = []
    second = docker_deploy.rollout(
        second_spec,
        current_container_id=first.container_id,
        health_timeout=20,
        on_phase=lambda p, d: phases.append(p),
    )
    assert second.healthy, second.reason
    assert phases == ["starting", "health_check", "swapping", "retiring", "healthy"]
    assert second.retired_container_id == first.container_id
    assert second.swap_gap_seconds is not None and second.swap_gap_seconds > 0
    assert fetch(first_spec.host_port, "/marker") == "two"
    assert first.container_id and docker_deploy.state(first.container_id) == "missing"
    left = docker_deploy.managed_containers(tenant=test_tenant, deployment_id=deployment)
    assert [(c.id, c.revision, c.candidate, c.host_port) for c in left] == [
        (second.container_id, 2, False, first_spec.host_port)
    ]


def test_failed_candidate_keeps_the_old_revision_serving(
    busybox_image: str, test_tenant: str, tmp_path: Path
) -> None:
    deployment = next(_ids)
    first_spec = spec_for(test_tenant, build(tmp_path, test_tenant, deployment, 1, marker="one"), deployment)
    first = docker_deploy.rollout(first_spec, current_container_id=None, health_timeout=20)
    bad_spec = first_spec.model_copy(
        update={"revision": 2, "image": build(tmp_path, test_tenant, deployment, 2, healthy=False)}
    )
    result = docker_deploy.rollout(bad_spec, current_container_id=first.container_id, health_timeout=1.0)
    assert not result.healthy and result.container_id is None and result.swap_gap_seconds is None
    assert fetch(first_spec.host_port, "/marker") == "one"
    left = docker_deploy.managed_containers(tenant=test_tenant, deployment_id=deployment)
    assert [c.id for c in left] == [first.container_id]


def test_redeploy_over_a_stopped_container_starts_directly(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    spec = spec_for(test_tenant, busybox_image, deployment)
    first = docker_deploy.rollout(spec, current_container_id=None, health_timeout=20)
    assert first.container_id and docker_deploy.stop(first.container_id)
    assert docker_deploy.state(first.container_id) == "exited"
    second = docker_deploy.rollout(
        spec.model_copy(update={"revision": 2}), current_container_id=first.container_id, health_timeout=20
    )
    assert second.healthy and second.swap_gap_seconds is None
    assert second.retired_container_id == first.container_id
    assert docker_deploy.state(first.container_id) == "missing"


def test_port_taken_by_another_process_fails_cleanly(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert docker_deploy.port_bound(port)
        spec = spec_for(test_tenant, busybox_image, deployment).model_copy(update={"host_port": port})
        result = docker_deploy.rollout(spec, current_container_id=None, health_timeout=5)
    assert not result.healthy and result.reason.startswith("start failed")
    assert docker_deploy.managed_containers(tenant=test_tenant, deployment_id=deployment) == []
    assert not docker_deploy.port_bound(docker_deploy.free_port())


def test_lifecycle_operations(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    spec = spec_for(test_tenant, busybox_image, deployment)
    result = docker_deploy.rollout(spec, current_container_id=None, health_timeout=20)
    cid = result.container_id
    assert cid
    assert docker_deploy.stop(cid) and docker_deploy.state(cid) == "exited"
    assert docker_deploy.start(cid) and docker_deploy.state(cid) == "running"
    assert docker_deploy.restart(cid, timeout=1) and docker_deploy.state(cid) == "running"
    assert "response:200" in docker_deploy.logs(cid, tail=50)
    mine = docker_deploy.managed_containers(host="hosta", tenant=test_tenant, deployment_id=deployment)
    assert [c.id for c in mine] == [cid]
    assert docker_deploy.managed_containers(host="hostb", tenant=test_tenant, deployment_id=deployment) == []
    assert docker_deploy.remove(cid) and docker_deploy.state(cid) == "missing"
    for operation in (docker_deploy.stop, docker_deploy.start, docker_deploy.restart, docker_deploy.remove):
        assert operation(cid) is False
    assert docker_deploy.logs(cid) == ""


def test_prune_keeps_the_newest_revisions_and_protected_ones(
    busybox_image: str, test_tenant: str, tmp_path: Path
) -> None:
    deployment = next(_ids)
    ids = {revision: docker_images.image_tag(test_tenant, deployment, revision) for revision in range(1, 6)}
    image_ids = {}
    for revision in ids:
        build(tmp_path, test_tenant, deployment, revision, marker=f"rev{revision}")
        image_ids[revision] = str(docker_engine.client().images.get(ids[revision]).id)
    key = docker_images.deployment_key(test_tenant, deployment)
    removed = docker_images.prune_images(key, keep=3, protect=frozenset({image_ids[1]}))
    assert removed == [ids[2]]
    assert not docker_images.image_exists(image_ids[2])
    assert all(docker_images.image_exists(image_ids[r]) for r in (1, 3, 4, 5))


def test_use_image_tags_a_given_image(busybox_image: str, test_tenant: str) -> None:
    deployment = next(_ids)
    used = docker_images.use_image(busybox_image, tenant=test_tenant, deployment_id=deployment, revision=4)
    assert used.tag.endswith(":r4") and docker_images.image_exists(used.image_id)
    with pytest.raises(docker_images.ImageError, match="not available"):
        docker_images.use_image(
            "127.0.0.1:9/borgos/absent:1", tenant=test_tenant, deployment_id=deployment, revision=5
        )
