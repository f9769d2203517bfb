"""Deployment jobs, run by RQ on the deployment's host (queue `host.<name>`).

Every job holds the deployment's Redis lock (one job in flight per deployment), reads the desired
state from the table, does the Docker work through the engine façade (workers/docker_*), and reports
each step through `chalicelib.deployments.report`, which writes the status, its history, the event,
the counters and the project map in one transaction. Jobs are idempotent: each step checks the
recorded state first, so a retried job does not apply anything twice."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any

import docker.errors
from docker.models.images import Image

from chalicelib import clock, deployments, errorlog, jobs, projects
from chalicelib.config import get_settings
from chalicelib.errors import ApiError, NotFound
from chalicelib.logs import logger
from chalicelib.models.errors import ErrorCreate
from workers import docker_deploy, docker_health, docker_images, docker_locks
from workers.docker_spec import ContainerSpec

LOCK_WAIT_SECONDS = 120.0
# A job request younger than this may still be on its way from the table's stream to RQ.
JOB_GRACE = timedelta(seconds=120)
RESTART_BACKOFF_SECONDS = (0, 10, 30, 60, 120, 300)
PRUNE_KEEP = 3


class Cancelled(Exception):
    """The user cancelled the rollout; raised by a report's guard to stop it."""


class Background:
    """One call run on a thread; `result()` returns its value or raises its exception."""

    def __init__(self, call: Callable[[], Any], name: str) -> None:
        self._call = call
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


# helpers ------------------------------------------------------------------------------------------
def _current_job_id() -> str | None:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else None


@contextlib.contextmanager
def _locked(tenant: str, deployment_id: int, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    with docker_locks.deployment_lock(jobs.redis_connection(), tenant, deployment_id, wait_seconds=wait):
        yield


def _item(tenant: str, deployment_id: int) -> dict[str, Any] | None:
    try:
        return deployments.get_item(tenant, deployment_id)
    except NotFound:
        return None


def _revision(tenant: str, deployment_id: int, revision: int) -> dict[str, Any] | None:
    try:
        return deployments.get_revision_item(tenant, deployment_id, revision)
    except NotFound:
        return None


def _serving_container(item: dict[str, Any]) -> str | None:
    container_id = item.get("container_id")
    if container_id and docker_deploy.state(container_id) == "running":
        return str(container_id)
    return None


def _finish_revision(status: str, reason: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "reason": reason, "finished_at": clock.iso(clock.now()), **fields}


def _spec(
    tenant: str, item: dict[str, Any], revision: int, config: dict[str, Any], image: str
) -> ContainerSpec:
    return ContainerSpec.with_limits(
        cpu_limit=config.get("cpu_limit"),
        memory_limit=config.get("memory_limit"),
        name=f"borgos-{tenant}-d{item['id']}",
        image=image,
        tenant=tenant,
        deployment_id=item["id"],
        revision=revision,
        host=item["host"],
        host_port=config["port"],
        container_port=config["container_port"],
        environment=config["environment"],
        health_path=config["health_check_path"],
    )


def _reference(rev: dict[str, Any]) -> str | None:
    """What the revision runs when it is not built from the project: its recorded image (a rollback)
    or the image the request named."""
    reference = rev.get("image_id") or rev["config"].get("image")
    return str(reference) if reference else None


def _prepare_image(tenant: str, item: dict[str, Any], rev: dict[str, Any]) -> docker_images.BuiltImage:
    """The revision's image when the host does not have it: pulled, or built from the project."""
    key = {"tenant": tenant, "deployment_id": item["id"], "revision": rev["revision"]}
    if rev.get("image_id"):
        raise docker_images.ImageError(
            f"image {rev['image_id'][:19]} of revision {rev.get('rollback_of')} is no longer on this host"
        )
    if rev["config"].get("image"):
        return docker_images.use_image(rev["config"]["image"], **key)
    project = projects.get_item(tenant, item["project_id"])
    return docker_images.build_image(project["path"], **key)


def _tag(image: Image, tag: str) -> None:
    """Tagging is bookkeeping (pruning finds a revision's image by its tag; the revision records the
    id and the container runs the id): a failure is logged and the rollout goes on."""
    try:
        docker_images.tag_image(image, tag)
    except docker.errors.APIError as exc:
        logger.warning("revision image not tagged", extra={"tag": tag, "error": str(exc)})


def _prune(tenant: str, deployment_id: int, protect: set[str]) -> None:
    """Keep the newest images of the deployment; revisions whose image went are marked so a rollback
    to them is refused with a clear error."""
    docker_images.prune_images(
        docker_images.deployment_key(tenant, deployment_id), keep=PRUNE_KEEP, protect=frozenset(protect)
    )
    gone = {
        r.image_id
        for r in deployments.list_revisions(tenant, deployment_id)
        if r.image_id and r.image_available and not docker_images.image_exists(r.image_id)
    }
    if gone:
        deployments.mark_images_gone(tenant, deployment_id, gone)


def _remove_strays(tenant: str, item: dict[str, Any], keep: str | None) -> None:
    """Remove every container of the deployment but `keep` (candidates, a killed job's leftovers)."""
    for container in docker_deploy.managed_containers(
        tenant=tenant, deployment_id=item["id"], host=item["host"]
    ):
        if container.id != keep:
            docker_deploy.remove(container.id)


def _save_logs(
    tenant: str,
    deployment_id: int,
    revision: int | None,
    build_log: str,
    container_log: str,
    environment: dict[str, str] | None = None,
) -> None:
    with contextlib.suppress(NotFound):
        deployments.save_logs(tenant, deployment_id, revision, build_log, container_log, environment)


# run_deployment -----------------------------------------------------------------------------------
def run_deployment(tenant: str, deployment_id: int, revision: int) -> str:
    """Roll out one revision: lock, build or take the image, start it next to the serving container,
    health-check it, then record the outcome and prune old images. Returns what happened."""
    with _locked(tenant, deployment_id):
        return _run_locked(tenant, deployment_id, revision)


def _not_cancelled(item: dict[str, Any]) -> bool:
    """A report's guard: the user's cancel (seen on the item the report builds on) stops the rollout."""
    if item.get("cancel_requested"):
        raise Cancelled()
    return True


def _run_locked(tenant: str, deployment_id: int, revision: int) -> str:
    item, rev = deployments.get_with_revision(tenant, deployment_id, revision)
    if item is None or rev is None or rev["status"] != "pending":
        return f"revision {revision} already handled"
    if item["revision"] != revision:
        deployments.report(
            tenant,
            deployment_id,
            revision=revision,
            revision_changes=_finish_revision("superseded", f"revision {item['revision']} was requested"),
        )
        return f"revision {revision} superseded"
    if item.get("cancel_requested") or item.get("desired") != "running":
        return _settle_cancelled(tenant, item, revision)

    build_log = ""
    current: dict[str, Any] | None = item
    reference = _reference(rev)
    local = docker_images.find_image(reference) if reference else None
    tagging: Background | None = None
    try:
        if local is not None:
            # On the host already (an image deploy, a rollback): no `building` step, and the tag is
            # given while the engine creates the container, which runs the image by its id.
            tag = docker_images.image_tag(tenant, deployment_id, revision)
            image = docker_images.BuiltImage(str(local.id), tag, f"using local image {reference}")
            tagging = Background(functools.partial(_tag, local, tag), name="deploy-tag")
        else:
            current = deployments.report(
                tenant,
                deployment_id,
                status="building",
                reason="preparing the image",
                revision=revision,
                revision_changes={"status": "building"},
                only_if=_not_cancelled,
                item=item,
            )
            try:
                image = _prepare_image(tenant, item, rev)
            except (docker_images.ImageError, NotFound) as exc:
                reason = str(getattr(exc, "reason", None) or exc)
                return _fail(tenant, item, revision, reason, getattr(exc, "log", "") or reason, "")
        build_log = image.log
        spec = _spec(tenant, item, revision, rev["config"], image.image_id)

        starting: Background | None = None

        def on_phase(phase: str, detail: str) -> None:
            nonlocal starting
            if phase == "starting" and starting is None:
                # Written while the engine creates and starts the container; joined before the
                # next report, so the history keeps its order.
                starting = Background(
                    functools.partial(
                        deployments.report,
                        tenant,
                        deployment_id,
                        status="starting",
                        reason=detail,
                        revision=revision,
                        revision_changes={"status": "starting", "image_id": image.image_id},
                        only_if=_not_cancelled,
                        item=current,
                    ),
                    name="deploy-report",
                )

        try:
            result = docker_deploy.rollout(
                spec,
                current_container_id=item.get("container_id"),
                health_timeout=float(get_settings().deploy_health_timeout),
                on_phase=on_phase,
            )
        finally:
            for pending in (starting, tagging):
                if pending is not None:
                    pending.wait()
        if starting is not None:
            try:
                current = starting.result()
            except Cancelled:
                current = None  # the cancel job interrupts the health check; too late once healthy
    except Cancelled:
        _remove_strays(tenant, item, keep=_serving_container(item))
        return _settle_cancelled(tenant, deployments.get_item(tenant, deployment_id), revision)
    if not result.healthy:
        _save_logs(tenant, deployment_id, revision, build_log, result.logs, item["environment"])
        latest = deployments.get_item(tenant, deployment_id)
        if latest.get("cancel_requested"):  # the cancel job removed our new container
            return _settle_cancelled(tenant, latest, revision)
        return _fail(tenant, item, revision, result.reason, None, None)
    previous = item.get("serving_revision")
    superseded = {}
    if previous and previous != revision:
        superseded[int(previous)] = _finish_revision("superseded", f"replaced by revision {revision}")
    deployments.report(
        tenant,
        deployment_id,
        status="running",
        reason=f"revision {revision} healthy: {result.reason}",
        changes={
            "job": None,
            "cancel_requested": False,
            "container_id": result.container_id,
            "image_id": result.image_id,
            "serving_revision": revision,
            "started_at": clock.iso(clock.now()),
            "restart_attempts": 0,
        },
        revision=revision,
        revision_changes=_finish_revision(
            "running", result.reason, container_id=result.container_id, image_id=result.image_id
        ),
        more_revisions=superseded,
        item=current,
        logs=(build_log, result.logs),
    )
    if revision > PRUNE_KEEP:  # revisions 1..PRUNE_KEEP cannot have more images than are kept
        _prune(tenant, deployment_id, protect={result.image_id})
    return f"revision {revision} running"


def _fail(
    tenant: str,
    item: dict[str, Any],
    revision: int,
    reason: str,
    build_log: str | None,
    container_log: str | None,
) -> str:
    """The revision failed. A container still serving the previous revision keeps the deployment
    running; otherwise the deployment is failed."""
    if build_log is not None or container_log is not None:
        _save_logs(tenant, item["id"], revision, build_log or "", container_log or "")
    serving = _serving_container(item)
    revision_changes = _finish_revision("failed", reason)
    if serving:
        deployments.report(
            tenant,
            item["id"],
            status="running",
            reason=f"revision {revision} failed ({reason}); "
            f"revision {item.get('serving_revision')} keeps serving",
            changes={"job": None},
            revision=revision,
            revision_changes=revision_changes,
        )
        return f"revision {revision} failed; previous revision serving"
    deployments.report(
        tenant,
        item["id"],
        status="failed",
        reason=reason,
        changes={"job": None, "container_id": None, "serving_revision": None},
        revision=revision,
        revision_changes=revision_changes,
    )
    return f"revision {revision} failed: {reason}"


def _settle_cancelled(tenant: str, item: dict[str, Any], revision: int) -> str:
    """End a cancelled rollout: the previous container (if any) keeps serving, else `cancelled`."""
    serving = _serving_container(item)
    fields = {"job": None, "cancel_requested": False, "cancel_job": None}
    revision_changes = _finish_revision("cancelled", "cancelled by request")
    rev = _revision(tenant, item["id"], revision)
    if rev is None or rev["status"] in ("running", "failed", "superseded", "cancelled"):
        revision_changes = {}
    if item["status"] not in deployments.IN_FLIGHT:
        deployments.report(
            tenant, item["id"], changes=fields, revision=revision, revision_changes=revision_changes
        )
    elif serving:
        deployments.report(
            tenant,
            item["id"],
            status="running",
            reason=f"revision {revision} cancelled; revision {item.get('serving_revision')} keeps serving",
            changes=fields,
            revision=revision,
            revision_changes=revision_changes,
        )
    else:
        deployments.report(
            tenant,
            item["id"],
            status="cancelled",
            reason="cancelled by request",
            changes={**fields, "container_id": None, "serving_revision": None},
            revision=revision,
            revision_changes=revision_changes,
        )
    return f"revision {revision} cancelled"


# control ------------------------------------------------------------------------------------------
def control(tenant: str, deployment_id: int, action: str) -> str:
    """stop | restart | cancel | delete, each under the deployment's lock."""
    handlers = {"stop": _stop, "restart": _restart, "cancel": _cancel, "delete": _delete}
    if action not in handlers:
        raise ValueError(f"unknown action {action!r}")
    if action == "cancel":
        _interrupt_rollout(tenant, deployment_id)
    with _locked(tenant, deployment_id, wait=get_settings().deploy_health_timeout + LOCK_WAIT_SECONDS):
        item = _item(tenant, deployment_id)
        if item is None:
            return f"deployment {deployment_id} is gone"
        job_id = _current_job_id()
        expected = item.get("cancel_job") if action == "cancel" else item.get("job")
        if job_id is not None and expected != job_id:
            return f"{action} of deployment {deployment_id} already done"  # a retried job
        return handlers[action](tenant, item)


def _interrupt_rollout(tenant: str, deployment_id: int) -> None:
    """The one step taken without the lock: remove the container a rollout is health-checking, so the
    rollout ends at once (its health wait sees the container gone) instead of at its timeout. The
    serving container is never touched; the rollout then settles as cancelled."""
    item = _item(tenant, deployment_id)
    if item is None or not item.get("cancel_requested") or item["status"] not in deployments.IN_FLIGHT:
        return
    for container in docker_deploy.managed_containers(tenant=tenant, deployment_id=deployment_id):
        if container.revision == item["revision"] and container.id != item.get("container_id"):
            docker_deploy.remove(container.id)


def _stop(tenant: str, item: dict[str, Any]) -> str:
    container_id = item.get("container_id")
    if container_id:
        _save_logs(tenant, item["id"], item.get("serving_revision"), "", docker_deploy.logs(container_id))
    _remove_strays(tenant, item, keep=None)
    deployments.report(
        tenant,
        item["id"],
        status="stopped",
        reason="stopped by request",
        changes={"job": None, "container_id": None, "serving_revision": None},
    )
    return f"deployment {item['id']} stopped"


def _restart(tenant: str, item: dict[str, Any]) -> str:
    container_id = item.get("container_id")
    if not container_id or not docker_deploy.restart(container_id):
        return _recreate(tenant, item, "restart requested but the container was gone")
    deployments.report(tenant, item["id"], status="starting", reason="restart requested")
    health = _wait_healthy(item, container_id)
    if health.healthy:
        deployments.report(
            tenant, item["id"], status="running", reason=f"restarted: {health.reason}", changes={"job": None}
        )
        return f"deployment {item['id']} restarted"
    deployments.report(
        tenant, item["id"], status="failed", reason=f"restart failed: {health.reason}", changes={"job": None}
    )
    return f"deployment {item['id']} restart failed"


def _wait_healthy(item: dict[str, Any], container_id: str) -> docker_health.HealthResult:
    port, path = item["port"], item["health_check_path"]

    def alive() -> str | None:
        state = docker_deploy.state(container_id)
        return None if state == "running" else f"container {state}"

    return docker_health.wait_healthy(
        lambda: docker_health.probe_http("127.0.0.1", port, path),
        timeout=float(get_settings().deploy_health_timeout),
        alive=alive,
    )


def _recreate(tenant: str, item: dict[str, Any], why: str) -> str:
    """Run the serving revision again from its image (its container vanished)."""
    revision = int(item.get("serving_revision") or 0)
    rev = _revision(tenant, item["id"], revision) if revision else None
    if rev is None or not item.get("image_id") or not docker_images.image_exists(item["image_id"]):
        deployments.report(
            tenant,
            item["id"],
            status="failed",
            reason=f"{why}; no image to run it again",
            changes={"job": None},
        )
        return f"deployment {item['id']} cannot be recreated"
    if item["status"] != "starting":
        deployments.report(tenant, item["id"], status="starting", reason=why)
    spec = _spec(tenant, item, revision, rev["config"], item["image_id"])
    result = docker_deploy.rollout(
        spec, current_container_id=None, health_timeout=float(get_settings().deploy_health_timeout)
    )
    if result.healthy:
        deployments.report(
            tenant,
            item["id"],
            status="running",
            reason=f"recreated: {result.reason}",
            changes={"job": None, "container_id": result.container_id, "started_at": clock.iso(clock.now())},
        )
        return f"deployment {item['id']} recreated"
    deployments.report(
        tenant, item["id"], status="failed", reason=f"{why}; {result.reason}", changes={"job": None}
    )
    return f"deployment {item['id']} recreate failed"


def _cancel(tenant: str, item: dict[str, Any]) -> str:
    """Runs after the rollout released the lock: settles what the rollout did not (it never started,
    or its worker died)."""
    if item["status"] in deployments.IN_FLIGHT:
        _remove_strays(tenant, item, keep=_serving_container(item))
    return _settle_cancelled(tenant, item, int(item["revision"]))


def _delete(tenant: str, item: dict[str, Any]) -> str:
    _remove_strays(tenant, item, keep=None)
    docker_images.prune_images(docker_images.deployment_key(tenant, item["id"]), keep=0)
    store_revisions = deployments.list_revisions(tenant, item["id"])
    for revision in store_revisions:
        deployments.delete_revision(tenant, item["id"], revision.revision)
    project_exists = True
    try:
        projects.get_item(tenant, item["project_id"])
    except NotFound:
        project_exists = False
    deployments.change(
        tenant,
        item["id"],
        lambda tx, current: deployments.delete_records(tx, current, project_exists=project_exists),
    )
    return f"deployment {item['id']} deleted"


# reconcile ----------------------------------------------------------------------------------------
def reconcile_host(tenant: str, host: str) -> dict[str, int]:
    """Compare what should run on this host with what the engine runs, and repair the difference:
    BorgOS containers nobody wants go, a rollout whose worker died ends in a definite state, and a
    serving container that died is restarted with backoff (and an error recorded)."""
    connection = jobs.redis_connection()
    # Containers first: one that exists now belongs to a deployment the read below still sees.
    containers: dict[int, list[docker_deploy.ManagedContainer]] = {}
    for container in docker_deploy.managed_containers(tenant=tenant, host=host):
        containers.setdefault(container.deployment_id, []).append(container)
    wanted = {item["id"]: item for item in deployments.deployments_on_host(tenant, host)}
    tally = {"removed": 0, "settled": 0, "failed": 0, "restarted": 0}
    for deployment_id, orphans in containers.items():
        if deployment_id not in wanted:
            for container in orphans:
                _remove_stray(container, deployment_id, "no such deployment")
                tally["removed"] += 1
    for item in wanted.values():
        try:
            # Under the deployment's lock no job runs for it, and a fresh read sees every job's result.
            with _locked(tenant, item["id"], wait=0):
                current = _item(tenant, item["id"])
                if current is None:
                    continue
                for container in containers.get(item["id"], []):
                    if container.id != current.get("container_id"):
                        # a retired or a killed job's container
                        _remove_stray(container, item["id"], "not the deployment's container")
                        tally["removed"] += 1
                outcome = _reconcile_one(tenant, current, connection)
                if outcome:
                    tally[outcome] += 1
        except docker_locks.LockBusy:
            continue  # a job is working on it
        except ApiError as exc:  # another writer changed it meanwhile: next round
            logger.warning(
                "reconcile skipped a deployment", extra={"deployment_id": item["id"], "error": exc.message}
            )
    return tally


def _remove_stray(container: docker_deploy.ManagedContainer, deployment_id: int, why: str) -> None:
    # Logged: a container that vanishes from under a client is otherwise hard to explain.
    logger.info(
        "reconcile removed a container",
        extra={"container_id": container.id, "deployment_id": deployment_id, "reason": why},
    )
    docker_deploy.remove(container.id)


def _job_dead(job_id: str, requested_at: str | None, connection: Any) -> bool:
    """Whether a deployment's recorded job can no longer report. Reconcile asks only when nobody
    holds the deployment's lock, so a job RQ still calls "started" for longer than a lock lease lost
    its worker (RQ itself notices a dead worker only minutes later)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        # Not on RQ yet: the stream may still be delivering it, for a while.
        return requested_at is None or clock.now() - clock.parse(requested_at) > JOB_GRACE
    status = str(getattr(job.get_status(), "value", job.get_status()))
    if status == "started":
        started = job.started_at
        if started is None:
            return False
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        return clock.now() - started > timedelta(seconds=docker_locks.LEASE_SECONDS)
    return status in ("failed", "stopped", "canceled", "finished")


def _reconcile_one(tenant: str, item: dict[str, Any], connection: Any) -> str | None:
    job_id = item.get("job")
    if job_id:
        if not _job_dead(job_id, item.get("updated_at"), connection):
            return None
        # The job's worker died (or the job crashed) without reporting: settle the deployment.
        _remove_strays(tenant, item, keep=_serving_container(item))
        if item["status"] in deployments.IN_FLIGHT:
            _fail(tenant, item, int(item["revision"]), "the worker stopped during the rollout", None, None)
        else:
            deployments.report(
                tenant, item["id"], changes={"job": None}, reason="the last job did not finish"
            )
        return "settled"
    if item.get("desired") != "running" or not item.get("serving_revision"):
        return None
    state = docker_deploy.state(item["container_id"]) if item.get("container_id") else "missing"
    if state == "running":
        deployments.refresh_container_log(tenant, item, docker_deploy.logs(item["container_id"]))
        if item["status"] == "failed":
            deployments.report(tenant, item["id"], status="running", reason="container running again")
            return "restarted"
        return None
    if item["status"] == "running":
        reason = f"container {item.get('container_id', '')[:12]} {state}"
        deployments.report(
            tenant,
            item["id"],
            status="failed",
            reason=reason,
            changes={"restart_attempts": 0, "next_restart_at": clock.iso(clock.now())},
        )
        _record_error(tenant, item, reason)
        return "failed"
    if item["status"] == "failed" and clock.iso(clock.now()) >= str(item.get("next_restart_at") or ""):
        attempts = int(item.get("restart_attempts", 0)) + 1
        delay = RESTART_BACKOFF_SECONDS[min(attempts, len(RESTART_BACKOFF_SECONDS) - 1)]
        deployments.report(
            tenant,
            item["id"],
            changes={
                "restart_attempts": attempts,
                "next_restart_at": clock.iso(clock.now() + timedelta(seconds=delay)),
            },
        )
        fresh = deployments.get_item(tenant, item["id"])
        if state == "exited" and docker_deploy.start(fresh["container_id"]):
            deployments.report(tenant, item["id"], status="starting", reason=f"restart attempt {attempts}")
            health = _wait_healthy(fresh, fresh["container_id"])
            status = "running" if health.healthy else "failed"
            deployments.report(
                tenant, item["id"], status=status, reason=f"restart attempt {attempts}: {health.reason}"
            )
        else:
            _recreate(tenant, fresh, f"restart attempt {attempts}: container missing")
        return "restarted"
    return None


def _record_error(tenant: str, item: dict[str, Any], reason: str) -> None:
    error = ErrorCreate(
        project_id=item["project_id"],
        deployment_id=item["id"],
        error_type="deployment",
        severity="error",
        message=f"Deployment {item['name']} ({item['id']}): {reason}",
        context={"host": item["host"], "port": item["port"], "revision": item.get("serving_revision")},
    )
    # A deleted project takes its error log along; the status change still tells what happened.
    with contextlib.suppress(NotFound):
        errorlog.log_error(tenant, error)
