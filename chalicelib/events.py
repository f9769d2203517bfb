"""Event vocabulary. Each change emits one event: `type` is the WebSocket name of the reference
(`project_created`), `name` the dotted webhook name (`project.created`), `channel` the WebSocket
channel a client subscribes to. Events are written by `Tx.emit` in the change's own transaction."""

from __future__ import annotations

from typing import Any

from chalicelib.store.table import Tx

CHANNELS = ("projects", "deployments", "errors", "tasks", "hosts")


def project_event(tx: Tx, action: str, project: dict[str, Any]) -> None:
    tx.emit(type=f"project_{action}", channel="projects", name=f"project.{action}", data=project)


def error_logged(tx: Tx, error: dict[str, Any]) -> None:
    tx.emit(type="error_logged", channel="errors", name=f"error.{error['severity']}", data=error)


def deployment_status(tx: Tx, data: dict[str, Any]) -> None:
    """A deployment changed status; webhooks see `deployment.<status>` (deployment.failed, ...)."""
    tx.emit(type="deployment_status", channel="deployments", name=f"deployment.{data['status']}", data=data)


def host_status(tx: Tx, host: dict[str, Any]) -> None:
    """A host came online or went offline (not written for every heartbeat)."""
    tx.emit(type="host_status", channel="hosts", name=f"host.{host['status']}", data=host)


def scan_event(tx: Tx, action: str, data: dict[str, Any]) -> None:
    """scan_completed / scan_failed, on the projects channel (webhook names project.scan_completed, ...)."""
    tx.emit(type=f"scan_{action}", channel="projects", name=f"project.scan_{action}", data=data)


def task_run(tx: Tx, run: dict[str, Any]) -> None:
    """A scheduled task's run was queued, started or finished (`data.status` says which)."""
    tx.emit(type="task_run", channel="tasks", name=f"task_run.{run['status']}", data=run)


def task_status(tx: Tx, task: dict[str, Any]) -> None:
    """An agent task changed status (`task.pending`, `task.running`, `task.completed`, ...)."""
    tx.emit(type="task_status", channel="tasks", name=f"task.{task['status']}", data=task)


def agent_alert(tx: Tx, alert: dict[str, Any]) -> None:
    """An agent raised an alert (a log monitor crossed its threshold); webhooks hear `agent.alert`."""
    tx.emit(type="agent_alert", channel="tasks", name="agent.alert", data=alert)


def budget_alert(tx: Tx, alert: dict[str, Any]) -> None:
    """LLM spend crossed a budget threshold; webhooks hear `budget.alert`."""
    tx.emit(type="budget_alert", channel="tasks", name="budget.alert", data=alert)


def agent_zero_status(tx: Tx, state: dict[str, Any]) -> None:
    tx.emit(type="agent_zero_status", channel="tasks", name=f"agent_zero.{state['state']}", data=state)
