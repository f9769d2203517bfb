"""Agent task jobs: `run_task(tenant, task_id)` runs one stored task on this worker host, and
`agent_zero_control(tenant, action, generation)` starts or stops the tenant's Agent Zero.

The task's state lives in the table (chalicelib/agent_tasks.py): the job moves it to `running`,
runs the agent, and records `completed`, `failed` or `cancelled` with its output. Agents watch the
task item for `cancel_requested` and enforce their own time limit; RQ's hard timeout sits above it
and is caught here too, so a task never stays `running` after its job ended.

Workers listen on the priority queues in order: `rq worker agents-high agents agents-low`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aws_lambda_powertools import Logger
from rq.timeouts import JobTimeoutException

from chalicelib import agent_tasks, errorlog, events
from chalicelib.config import get_settings
from chalicelib.models.agent_tasks import HttpCheckInput, LogMonitorInput, ShellInput
from chalicelib.projects import get_item as get_project_item
from chalicelib.store.table import Tx, get_store

logger = Logger(service="borgos", child=True)

POLL_SECONDS = 0.25  # how often a running agent looks at its files and its cancel flag
MAX_OUTPUT_CHARS = 64 * 1024
MAX_LINE_CHARS = 10_000
SAMPLE_LINES = 5


class Cancelled(Exception):
    """The task was cancelled while it ran; carries the output so far."""

    def __init__(self, output: Any = None) -> None:
        super().__init__("cancelled")
        self.output = output


class TaskFailed(Exception):
    """The agent ran and the task did not succeed; carries the output so far."""

    def __init__(self, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.output = output


@dataclass
class TaskRun:
    """What an agent is handed: the stored task and a way to ask whether to stop."""

    tenant: str
    item: dict[str, Any]
    started: float = field(default_factory=time.monotonic)

    @property
    def task_id(self) -> int:
        return int(self.item["id"])

    @property
    def deadline(self) -> float | None:
        timeout = self.item.get("timeout_seconds")
        return None if timeout is None else self.started + float(timeout)

    def should_stop(self) -> bool:
        return agent_tasks.cancel_requested(self.tenant, self.task_id)

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


Agent = Callable[[TaskRun], Any]


def run_task(tenant: str, task_id: int) -> str:
    """The RQ job: run one task and record how it ended; returns the final status."""
    item = agent_tasks.start_task(tenant, task_id)
    if item is None:
        logger.info("task is not pending; nothing to run", tenant=tenant, task_id=task_id)
        return "skipped"
    run = TaskRun(tenant, item)
    agent = AGENTS[item["agent_type"]]
    status, output, error = "completed", None, None
    try:
        output = agent(run)
    except Cancelled as exc:
        status, output = "cancelled", exc.output
    except TaskFailed as exc:
        status, output, error = "failed", exc.output, exc.message
    except JobTimeoutException:
        status, error = "failed", "The worker's hard time limit stopped the task"
    except Exception as exc:
        logger.exception("agent crashed", tenant=tenant, task_id=task_id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
    agent_tasks.finish_task(tenant, task_id, status, output=output, error=error)
    logger.info("task finished", tenant=tenant, task_id=task_id, status=status)
    return status


# http-check ---------------------------------------------------------------------------------------


def http_check(run: TaskRun) -> dict[str, Any]:
    spec = HttpCheckInput.model_validate(run.item["input_data"])
    started = time.perf_counter()
    output: dict[str, Any] = {"url": spec.url, "method": spec.method}
    try:
        with httpx.Client(
            trust_env=False, follow_redirects=False, timeout=spec.request_timeout_seconds
        ) as http:
            response = http.request(spec.method, spec.url)
    except httpx.TimeoutException:
        output.update(ok=False, duration_ms=_ms(started))
        raise TaskFailed(f"No answer within {spec.request_timeout_seconds:g} s", output) from None
    except httpx.HTTPError as exc:
        output.update(ok=False, duration_ms=_ms(started))
        raise TaskFailed(f"Request failed: {type(exc).__name__}", output) from None
    output.update(status_code=response.status_code, duration_ms=_ms(started))
    problems = []
    if response.status_code not in spec.expected_status:
        problems.append(f"status {response.status_code}, expected {spec.expected_status}")
    if spec.contains is not None:
        found = spec.contains in response.text
        output["body_matched"] = found
        if not found:
            problems.append(f"the body does not contain {spec.contains!r}")
    output["ok"] = not problems
    if problems:
        raise TaskFailed("Check failed: " + "; ".join(problems), output)
    return output


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# log-monitor --------------------------------------------------------------------------------------


class _Follower:
    """Reads the complete lines appended to one file since the last read (handles a file that
    appears later, is truncated, or is replaced by rotation)."""

    def __init__(self, path: str, from_start: bool) -> None:
        self.path = path
        self.offset = 0
        self.line_number = 0
        self._inode: int | None = None
        self._partial = b""
        if not from_start:
            try:
                stat = Path(path).stat()
                self.offset, self._inode = stat.st_size, stat.st_ino
                self.line_number = -1  # unknown: we start mid-file
            except FileNotFoundError:
                pass

    def read(self) -> list[tuple[int, str]]:
        try:
            stat = Path(self.path).stat()
        except FileNotFoundError:
            return []
        if (self._inode is not None and stat.st_ino != self._inode) or stat.st_size < self.offset:
            self.offset, self._partial, self.line_number = 0, b"", 0  # rotated or truncated
        self._inode = stat.st_ino
        if stat.st_size == self.offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(stat.st_size - self.offset)
        self.offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        lines = []
        for raw in complete:
            if self.line_number >= 0:
                self.line_number += 1
            lines.append((self.line_number, raw.decode("utf-8", errors="replace").rstrip("\r")))
        return lines


def log_monitor(run: TaskRun) -> dict[str, Any]:
    spec = LogMonitorInput.model_validate(run.item["input_data"])
    patterns = [re.compile(p) for p in spec.patterns]
    project = get_project_item(run.tenant, int(run.item["project_id"]))
    followers = [_Follower(path, spec.from_start) for path in spec.log_paths]
    state: dict[str, Any] = {"matched": 0, "alerts": 0, "since_alert": 0, "last_match": None, "recent": []}

    def output() -> dict[str, Any]:
        return {
            "matched_lines": state["matched"],
            "alerts": state["alerts"],
            "alert_threshold": spec.alert_threshold,
            "last_match": state["last_match"],
            "files": {f.path: {"offset": f.offset, "exists": Path(f.path).exists()} for f in followers},
        }

    agent_tasks.record_progress(run.tenant, run.task_id, output())  # following from here on
    while True:
        matches = [
            (follower.path, number, line, pattern.pattern)
            for follower in followers
            for number, line in follower.read()
            for pattern in [next((p for p in patterns if p.search(line)), None)]
            if pattern is not None
        ]
        for match in matches:
            _record_match(run, project, spec, match, state)
        if matches:
            agent_tasks.record_progress(run.tenant, run.task_id, output())
        if run.should_stop():
            raise Cancelled(output())
        if run.timed_out():
            return output()
        time.sleep(POLL_SECONDS)


def _record_match(
    run: TaskRun,
    project: dict[str, Any],
    spec: LogMonitorInput,
    match: tuple[str, int, str, str],
    state: dict[str, Any],
) -> None:
    """One error (each touches the project's error counter, so one per transaction) and, when it
    crosses the threshold, the alert in the same transaction."""
    path, number, line, pattern = match
    since_alert = state["since_alert"] + 1
    crossed = since_alert >= spec.alert_threshold
    state["recent"] = [*state["recent"], line[:500]][-SAMPLE_LINES:]

    def build(tx: Tx) -> None:
        errorlog.record(
            tx,
            project,
            {
                "error_type": "log_match",
                "severity": spec.severity,
                "message": line[:MAX_LINE_CHARS] or "(empty line)",
                "context": {
                    "task_id": run.task_id,
                    "path": path,
                    "line": number if number >= 0 else None,
                    "pattern": pattern,
                },
            },
        )
        if crossed:
            events.agent_alert(
                tx,
                {
                    "task_id": run.task_id,
                    "project_id": project["id"],
                    "agent_type": "log-monitor",
                    "message": f"{since_alert} matching log lines (threshold {spec.alert_threshold})",
                    "matched_lines": since_alert,
                    "alert_threshold": spec.alert_threshold,
                    "log_paths": spec.log_paths,
                    "sample": state["recent"],
                },
            )

    get_store().commit(run.tenant, build)
    state["matched"] += 1
    state["last_match"] = line[:500]
    if crossed:
        state["alerts"] += 1
        state["since_alert"] = 0
    else:
        state["since_alert"] = since_alert


# shell --------------------------------------------------------------------------------------------


def shell(run: TaskRun) -> dict[str, Any]:
    """The command in a throwaway container: no network, read-only root and project, no
    capabilities, CPU/memory/pids limits, killed at the deadline or on cancel, always removed."""
    import docker

    spec = ShellInput.model_validate(run.item["input_data"])
    image = get_settings().shell_image  # the operator's choice, never the caller's
    volumes = {}
    working_dir = "/"
    if run.item.get("project_id") is not None:
        project = get_project_item(run.tenant, int(run.item["project_id"]))
        volumes[project["path"]] = {"bind": "/project", "mode": "ro"}
        working_dir = "/project"
    client = docker.from_env()
    started = time.perf_counter()
    container = client.containers.create(
        image,
        entrypoint=spec.argv(),  # the task's command whatever the image's own ENTRYPOINT
        network_mode="none",
        read_only=True,
        volumes=volumes,
        working_dir=working_dir,
        tmpfs={"/tmp": "rw,size=16m,mode=1777"},
        nano_cpus=int(spec.cpus * 1e9),
        mem_limit=f"{spec.memory_mb}m",
        memswap_limit=f"{spec.memory_mb}m",
        pids_limit=128,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="65534:65534",
        labels={"borgos.tenant": run.tenant, "borgos.task": str(run.task_id)},
    )
    try:
        container.start()
        ended = None  # None: still running; else why it was stopped early
        while True:
            try:
                exit_code = int(container.wait(timeout=POLL_SECONDS)["StatusCode"])
                break
            except Exception as exc:  # the wait timed out: the command still runs
                if not _is_wait_timeout(exc):
                    raise
            if run.should_stop():
                ended = "cancelled"
            elif run.timed_out():
                ended = "timed_out"
            if ended:
                container.kill()
                exit_code = int(container.wait(timeout=30)["StatusCode"])
                break
        output = {
            "exit_code": exit_code,
            "stdout": _text(container.logs(stdout=True, stderr=False)),
            "stderr": _text(container.logs(stdout=False, stderr=True)),
            "duration_ms": _ms(started),
            "image": image,
        }
    finally:
        container.remove(force=True)
    if ended == "cancelled":
        raise Cancelled(output)
    if ended == "timed_out":
        raise TaskFailed(f"The command did not finish within {run.item['timeout_seconds']} s", output)
    if exit_code != 0:
        raise TaskFailed(f"The command exited with code {exit_code}", output)
    return output


def _is_wait_timeout(exc: Exception) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.ReadTimeout | requests.exceptions.ConnectionError)


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n[truncated]"


# agent-zero ---------------------------------------------------------------------------------------


def agent_zero_client(base_url: str) -> Any:
    """The adapter for the tenant's instance (tests replace this to replay recorded exchanges)."""
    from workers.agent_zero import AgentZeroClient, AgentZeroConfig

    config = AgentZeroConfig.from_env()
    return AgentZeroClient(base_url, config.api_key, timeout_s=config.timeout_s)


def agent_zero_task(run: TaskRun) -> dict[str, Any]:
    from chalicelib import agent_zero
    from workers.agent_zero import AgentZeroError, AgentZeroTask, AgentZeroUnavailable

    state = agent_zero.get_state(run.tenant)
    if state is None or state["state"] != "running" or not state.get("ui_url"):
        raise TaskFailed("Agent Zero is not running; start it with POST /api/v1/agent-zero/start")
    inputs = dict(run.item["input_data"])
    prompt = inputs.pop("prompt", None)
    task = AgentZeroTask(
        type=run.item["task_type"], description=run.item["description"], prompt=prompt, context=inputs
    )
    from workers.agent_zero import run_task as forward

    try:
        reply = forward(task, agent_zero_client(state["ui_url"]))
    except (AgentZeroUnavailable, AgentZeroError) as exc:
        raise TaskFailed(str(exc)) from None
    return {"context_id": reply.context_id, "response": reply.response}


AGENTS: dict[str, Agent] = {
    "agent-zero": agent_zero_task,
    "http-check": http_check,
    "log-monitor": log_monitor,
    "shell": shell,
}


# Agent Zero instance control ----------------------------------------------------------------------


CONTAINER_PORT = 80  # the agent0ai/agent-zero image serves its UI and API on port 80


def agent_zero_control(tenant: str, action: str, generation: int) -> str:
    """Start or stop the tenant's Agent Zero as recorded; a request that an newer one replaced
    (another start or stop since) does nothing."""
    from chalicelib import agent_zero

    state = agent_zero.get_state(tenant)
    if state is None or int(state["version"]) != generation:
        logger.info("agent zero request superseded", tenant=tenant, action=action)
        return "superseded"
    if action == "start":
        fields = _start_agent_zero(tenant, state)
    elif action == "stop":
        fields = _stop_agent_zero(state)
    else:
        raise ValueError(f"unknown action {action!r}")
    agent_zero.record_state(tenant, fields)
    return str(fields["state"])


def _start_agent_zero(tenant: str, state: dict[str, Any]) -> dict[str, Any]:
    import os
    import signal
    import subprocess
    import sys

    mode = state["mode"]
    started: dict[str, Any] = {}
    try:
        if mode == "container":
            import docker

            container = docker.from_env().containers.run(
                state["image"],
                detach=True,
                name=f"borgos-agent-zero-{tenant}",
                ports={f"{CONTAINER_PORT}/tcp": state["port"]},
                labels={"borgos.tenant": tenant, "borgos.role": "agent-zero"},
                restart_policy={"Name": "unless-stopped"},
            )
            started["container_id"] = container.id
        elif mode == "process":
            directory = Path(state["directory"])
            if not (directory / "run_ui.py").is_file():
                return {
                    "state": "failed",
                    "error": f"{directory} holds no run_ui.py (not an Agent Zero checkout)",
                }
            process = subprocess.Popen(
                [sys.executable, "run_ui.py", "--port", str(state["port"]), "--host", "0.0.0.0"],
                cwd=directory,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop ends it and its children
            )
            started["process_id"] = process.pid
    except Exception as exc:
        return {"state": "failed", "error": f"Could not start Agent Zero: {type(exc).__name__}: {exc}"[:1000]}
    health = _wait_for_health(state["ui_url"])
    if health.reachable:
        return {**started, "state": "running", "agent_version": health.version, "error": None}
    # It never answered: do not leave a half-started instance behind.
    if "process_id" in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started["process_id"], signal.SIGTERM)
    if "container_id" in started:
        _remove_container(started["container_id"])
    return {
        "state": "failed",
        "process_id": None,
        "container_id": None,
        "error": f"Agent Zero at {state['ui_url']} did not answer GET /health: {health.error}",
    }


def _wait_for_health(url: str) -> Any:
    deadline = time.monotonic() + float(get_settings().agent_zero_start_wait_s)
    client = agent_zero_client(url)
    while True:
        health = client.probe()
        if health.reachable or time.monotonic() >= deadline:
            return health
        time.sleep(0.5)


def _stop_agent_zero(state: dict[str, Any]) -> dict[str, Any]:
    import os
    import signal

    if state.get("process_id"):
        with contextlib.suppress(ProcessLookupError):  # already gone: stopped is what we want
            os.killpg(int(state["process_id"]), signal.SIGTERM)
    if state.get("container_id"):
        _remove_container(state["container_id"])
    return {"state": "stopped", "process_id": None, "container_id": None}


def _remove_container(container_id: str) -> None:
    import docker
    from docker.errors import NotFound

    with contextlib.suppress(NotFound):
        docker.from_env().containers.get(container_id).remove(force=True)


# Orphaned tasks -----------------------------------------------------------------------------------


def reap_orphans(host: str, tenant: str) -> list[int]:
    """Periodic (workers/periodic.py): a task still `running` whose RQ job is gone, failed or
    finished lost its worker (killed, host restarted): mark it failed so it does not run forever
    on paper. Idempotent; any host may settle any of the tenant's tasks."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from chalicelib import jobs

    connection = jobs.redis_connection()
    settled = []
    items, _, _ = agent_tasks.list_tasks(tenant, limit=500, status="running")
    for task in items:
        try:
            status = Job.fetch(f"{tenant}-task-{task.id}", connection=connection).get_status()
        except NoSuchJobError:
            status = None
        if status is not None and status.value in ("queued", "started", "deferred", "scheduled"):
            continue
        reason = f"The worker running this task went away (job {status.value if status else 'missing'})"
        if agent_tasks.finish_task(tenant, task.id, "failed", error=reason) is not None:
            settled.append(task.id)
            logger.warning("orphaned task settled", tenant=tenant, task_id=task.id, host=host)
    return settled
