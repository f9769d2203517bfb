"""The local stack's configuration: ports, state directory, intervals (env `BORGOS_LOCAL_*` or CLI),
and `app_environment`, the ONE place that builds the environment every app process runs with."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Field name -> (environment variable, CLI flag, help). Defaults live on the dataclass.
_OPTIONS: dict[str, tuple[str, str, str]] = {
    "host": ("BORGOS_LOCAL_HOST", "--host", "address every service binds to"),
    "api_port": ("BORGOS_LOCAL_API_PORT", "--api-port", "chalice local (HTTP API)"),
    "ws_port": ("BORGOS_LOCAL_WS_PORT", "--ws-port", "WebSocket gateway"),
    "moto_port": ("BORGOS_LOCAL_MOTO_PORT", "--moto-port", "moto server (DynamoDB, Streams, S3)"),
    "management_port": (
        "BORGOS_LOCAL_WS_MANAGEMENT_PORT",
        "--management-port",
        "WebSocket gateway's @connections API",
    ),
    "redis_port": ("BORGOS_LOCAL_REDIS_PORT", "--redis-port", "Redis (started when none answers)"),
    "state_dir": ("BORGOS_LOCAL_STATE_DIR", "--state-dir", "snapshots, logs, local.json"),
    "snapshot_interval": (
        "BORGOS_LOCAL_SNAPSHOT_INTERVAL",
        "--snapshot-interval",
        "seconds between snapshots of the emulated AWS state",
    ),
    "ready_timeout": ("BORGOS_LOCAL_READY_TIMEOUT", "--ready-timeout", "seconds to wait for each service"),
    "worker_name": (
        "BORGOS_LOCAL_WORKER_NAME",
        "--worker-name",
        "name of the stack's worker host (queue host.<name>, owner of its containers); "
        "stacks sharing one Docker engine need different names",
    ),
}


@dataclass(frozen=True)
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 8081
    ws_port: int = 8082
    moto_port: int = 8083
    management_port: int = 8084
    redis_port: int = 6379
    state_dir: Path = REPO_ROOT / ".borgos"
    snapshot_interval: float = 5.0
    ready_timeout: float = 60.0
    # Reconcile removes the containers of (tenant, host) that its own table does not want: another
    # stack on the same Docker engine must not share this name, or each removes the other's.
    worker_name: str = "local"
    stage: str = "api"  # API Gateway stage of the WebSocket API (the gateway's URL path)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}/{self.stage}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}/{self.stage}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def local_json(self) -> Path:
        return self.state_dir / "local.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def projects_dir(self) -> Path:
        """The local host's project root when BORGOS_PROJECT_ROOTS is not set."""
        return self.state_dir / "projects"

    @property
    def run_dir(self) -> Path:
        """Ready markers and the pump's positions: meaningful only while the stack runs."""
        return self.state_dir / "run"

    @property
    def snapshot_path(self) -> Path:
        return self.state_dir / "aws-snapshot.json"


def _convert(name: str, raw: str) -> object:
    kind = {f.name: f.type for f in fields(StackConfig)}[name]
    if kind in ("int", int):
        return int(raw)
    if kind in ("float", float):
        return float(raw)
    if kind in ("Path", Path):
        return Path(raw).resolve()
    return raw


def from_env(environ: Mapping[str, str] | None = None) -> StackConfig:
    environ = os.environ if environ is None else environ
    values = {
        name: _convert(name, environ[var]) for name, (var, _, _) in _OPTIONS.items() if environ.get(var)
    }
    return StackConfig(**values)  # type: ignore[arg-type]


def parse_args(argv: Sequence[str] | None, prog: str) -> StackConfig:
    """CLI flags override `BORGOS_LOCAL_*` variables, which override the defaults."""
    base = from_env()
    parser = argparse.ArgumentParser(prog=prog, description="The BorgOS local stack.")
    for name, (var, flag, text) in _OPTIONS.items():
        parser.add_argument(
            flag, dest=name, default=None, help=f"{text} (env {var}; default {getattr(base, name)})"
        )
    args = parser.parse_args(argv)
    values = {name: _convert(name, str(value)) for name, value in vars(args).items() if value is not None}
    current = {f.name: getattr(base, f.name) for f in fields(StackConfig)}
    return StackConfig(**{**current, **values})


def to_env(config: StackConfig) -> dict[str, str]:
    """The `BORGOS_LOCAL_*` variables that reproduce `config` (child processes read them)."""
    return {var: str(getattr(config, name)) for name, (var, _, _) in _OPTIONS.items()}


def app_environment(config: StackConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every process that runs BorgOS code locally (chalice local, the stream
    pump and schedules, the WebSocket gateway, workers): AWS endpoints at moto with fixed local
    credentials (never a real key), Redis, the gateway's management API. One place, so every
    process sees the same stack."""
    env = dict(os.environ if base is None else base)
    pythonpath = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "BORGOS_STAGE": "local",
            "BORGOS_DYNAMODB_ENDPOINT": config.moto_url,
            "BORGOS_S3_ENDPOINT": config.moto_url,
            "BORGOS_REDIS_URL": config.redis_url,
            "BORGOS_WEBSOCKET_ENDPOINT": config.management_url,
            "BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS": "1",
            "BORGOS_DEFAULT_HOST": config.worker_name,  # scans run on the stack's worker
            # The API (Zenith discovery) and the worker (scans) read the same roots: one machine.
            "BORGOS_PROJECT_ROOTS": env.get("BORGOS_PROJECT_ROOTS") or str(config.projects_dir),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION") or "us-east-1",
            # moto serves streams on the plain endpoint, not on account-based ones.
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(pythonpath)),
            "PYTHONUNBUFFERED": "1",
            **to_env(config),
        }
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def python() -> str:
    """The interpreter the stack runs on (the venv's, when started through make)."""
    return sys.executable
