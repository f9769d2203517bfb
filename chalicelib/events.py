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
