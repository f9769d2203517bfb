"""Start the REAL local stack (`python -m infra.local.stack`, what `make dev` runs) as a subprocess
on free ports with its own state directory, and stop it. Used by tests/integration/conftest.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.config import REPO_ROOT, StackConfig, to_env
from infra.local.stack import die_with_parent
from tests.support.local_services import free_port


def free_config(state_dir: Path, **overrides: Any) -> StackConfig:
    """A configuration on free loopback ports (its own Redis too) keeping its data in `state_dir`, with
    a worker host name of its own: the Docker engine is shared with `make dev` and other test runs,
    whose reconcile would otherwise remove this stack's containers (and this one theirs)."""
    ports = {
        name: free_port() for name in ("api_port", "ws_port", "moto_port", "management_port", "redis_port")
    }
    worker = f"local-{uuid.uuid4().hex[:8]}"
    return StackConfig(state_dir=state_dir, **{**ports, "worker_name": worker, **overrides})


@dataclass
class LocalStack:
    """A running stack, as its local.json describes it."""

    config: StackConfig
    process: subprocess.Popen[bytes]
    api_url: str = ""
    ws_url: str = ""
    management_url: str = ""
    moto_url: str = ""
    redis_url: str = ""
    token: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def logs_dir(self) -> Path:
        return self.config.logs_dir

    def service_pids(self) -> set[int]:
        """Every live process below the supervisor (services and whatever they started)."""
        return descendants(self.process.pid)

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        """Ctrl-C (by default) and wait for the supervisor to finish stopping everything."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def descendants(root: int) -> set[int]:
    """Every live descendant of `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def start_stack(config: StackConfig, *, timeout: float = 90) -> LocalStack:
    """Start the supervisor and return once its local.json (written when all is ready) appears."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORGOS_", "PYTEST_"))}
    env.update(to_env(config))
    env["POWERTOOLS_LOG_LEVEL"] = env.get("POWERTOOLS_LOG_LEVEL", "INFO")
    output = (config.state_dir / "supervisor.out").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.stack"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # a killed test run stops its stack too
    )
    output.close()
    stack = LocalStack(config=config, process=process)
    deadline = time.monotonic() + timeout
    while True:
        info = _read_json(config.local_json)
        if info and info.get("pid") == process.pid:
            break
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop(signal.SIGTERM)
            tail = (config.state_dir / "supervisor.out").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the local stack did not become ready:\n{tail}")
        time.sleep(0.1)
    stack.info = info
    for name in ("api_url", "ws_url", "management_url", "moto_url", "redis_url", "token"):
        setattr(stack, name, info[name])
    return stack


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None
