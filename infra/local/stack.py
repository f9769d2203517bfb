"""`python -m infra.local.stack` (what `make dev` runs): start the whole local stack, keep it
running, and on Ctrl-C / SIGTERM stop everything it started.

Services (each its own process group, so stopping one stops all it spawned):
  redis     redis-server, only when nothing answers on the Redis port
  moto      moto server: DynamoDB, DynamoDB Streams, S3; table and bucket; snapshots (moto_server.py)
  ws        the WebSocket gateway (ws_gateway.py) and its @connections management API
  triggers  stream pump and schedule emulation calling the app's handlers (triggers.py)
  api       chalice local --no-autoreload
  worker    the local host's worker (`local_worker`)
A service that dies is restarted (with backoff). When all are ready the supervisor prints the URLs
and an admin token and writes them to `<state>/local.json`; it removes that file when it stops.
See docs/local-stack.md."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aws_lambda_powertools import Logger

from chalicelib.tokens import BOOTSTRAP_TENANT  # the admin token's tenant owns the local host
from infra.local.config import REPO_ROOT, StackConfig, app_environment, parse_args, python
from infra.local.snapshot import write_atomic
from workers.stop_signals import set_on_signals

logger = Logger(service="borgos-local-stack")

READY_MARKERS = ("moto.ready", "triggers.ready")


class StackError(RuntimeError):
    pass


# -- the services -------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[Service], bool]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    failures: int = 0
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def local_worker(config: StackConfig) -> list[str]:
    """THE one place that says how the local host's worker runs: the worker-host process
    (workers/host.py: registers host `config.worker_name`, "local" by default, under the bootstrap
    tenant, heartbeats, RQ workers with scheduler on `host.<name>` and `default`). Before it existed
    this was a plain RQ worker:
        [python(), "-m", "rq.cli", "worker", "--with-scheduler", "--url", config.redis_url,
         "default", f"host.{config.worker_name}"]"""
    return [python(), "-m", "workers.host", "--name", config.worker_name, "--tenant", BOOTSTRAP_TENANT]


def _worker_listening(name: str) -> Callable[[Service], bool]:
    """Ready once an RQ worker serves the local host's queue (whichever process runs it)."""

    def check(service: Service) -> bool:
        import redis
        from rq import Queue, Worker

        url = service.env["BORGOS_REDIS_URL"]
        with redis.Redis.from_url(url, socket_connect_timeout=1) as connection:
            return bool(Worker.all(queue=Queue(f"host.{name}", connection=connection)))

    return check


def _file_exists(path: Path) -> Callable[[Service], bool]:
    return lambda _service: path.exists()


def _port_open(host: str, *ports: int) -> Callable[[Service], bool]:
    def check(_service: Service) -> bool:
        return all(_answers(host, port) for port in ports)

    return check


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _http_ok(url: str) -> Callable[[Service], bool]:
    def check(_service: Service) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return check


def _redis_answers(url: str) -> bool:
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as connection:
            return bool(connection.ping())
    except redis.RedisError:
        return False


def build_services(config: StackConfig, *, start_redis: bool) -> list[Service]:
    env = app_environment(config)
    py = python()
    chalice = str(Path(py).with_name("chalice")) if Path(py).with_name("chalice").exists() else "chalice"
    services: list[Service] = []
    if start_redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed and no Redis answers (run `make dev` as root)")
        (config.state_dir / "redis").mkdir(parents=True, exist_ok=True)
        services.append(
            Service(
                "redis",
                [
                    binary,
                    "--port",
                    str(config.redis_port),
                    "--bind",
                    config.host,
                    "--dir",
                    str(config.state_dir / "redis"),
                    "--save",
                    "30 1",
                    "--appendonly",
                    "no",
                ],
                lambda _s: _redis_answers(config.redis_url),
            )
        )
    services += [
        Service("moto", [py, "-m", "infra.local.moto_server"], _file_exists(config.run_dir / "moto.ready")),
        Service(
            "ws",
            [
                py,
                "-m",
                "infra.local.ws_gateway",
                "--allow-no-handlers",
                "--host",
                config.host,
                "--port",
                str(config.ws_port),
                "--management-port",
                str(config.management_port),
                "--stage",
                config.stage,
            ],
            _port_open(config.host, config.ws_port, config.management_port),
        ),
        Service(
            "triggers", [py, "-m", "infra.local.triggers"], _file_exists(config.run_dir / "triggers.ready")
        ),
        Service(
            "api",
            [
                chalice,
                "local",
                "--no-autoreload",
                "--host",
                config.host,
                "--port",
                str(config.api_port),
                "--stage",
                "local",
            ],
            _http_ok(f"{config.api_url}/health"),
        ),
        Service("worker", local_worker(config), _worker_listening(config.worker_name)),
    ]
    for service in services:
        service.env = env
    return services


# -- processes ----------------------------------------------------------------------------------


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM should the supervisor die without stopping us."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class Supervisor:
    def __init__(self, config: StackConfig, out: IO[str] | None = None) -> None:
        self.config = config
        self.out = out or sys.stdout
        self.services: list[Service] = []
        self.stopping = threading.Event()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # starting

    def start(self, service: Service) -> None:
        self.config.logs_dir.mkdir(parents=True, exist_ok=True)
        if service.log is None:
            service.log = (self.config.logs_dir / f"{service.name}.log").open("ab")
        service.process = subprocess.Popen(
            service.argv,
            cwd=REPO_ROOT,
            env=service.env,
            stdin=subprocess.DEVNULL,
            stdout=service.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches the supervisor only
            preexec_fn=die_with_parent,
        )
        service.started_at = time.monotonic()
        logger.info("service started", service=service.name, pid=service.process.pid)

    def wait_ready(self, services: Sequence[Service]) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        waiting = list(services)
        while waiting:
            if self.stopping.is_set():
                raise StackError("stopped while starting")
            for service in list(waiting):
                assert service.process is not None
                if service.process.poll() is not None:
                    log = self.config.logs_dir / f"{service.name}.log"
                    raise StackError(
                        f"{service.name} exited with {service.process.returncode} while starting; "
                        f"last lines of {log}:\n{_tail(log)}"
                    )
                try:
                    ready = service.ready(service)
                except Exception:
                    ready = False
                if ready:
                    waiting.remove(service)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise StackError(f"not ready after {self.config.ready_timeout:.0f}s: {names}")
            if waiting:
                time.sleep(0.05)

    def _check_ports(self, start_redis: bool) -> None:
        ports = [
            self.config.api_port,
            self.config.ws_port,
            self.config.moto_port,
            self.config.management_port,
        ]
        if start_redis:
            ports.append(self.config.redis_port)
        busy = [port for port in ports if _answers(self.config.host, port)]
        if busy:
            raise StackError(
                f"port(s) {busy} on {self.config.host} already in use (another stack? see "
                f"{self.config.local_json}); choose others with --api-port etc. or BORGOS_LOCAL_*"
            )

    def start_all(self) -> dict[str, Any]:
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        config.run_dir.mkdir(parents=True, exist_ok=True)
        config.projects_dir.mkdir(exist_ok=True)  # the default root exists from the start
        for marker in READY_MARKERS:
            (config.run_dir / marker).unlink(missing_ok=True)
        config.local_json.unlink(missing_ok=True)
        start_redis = not _redis_answers(config.redis_url)
        self._check_ports(start_redis)
        self.services = build_services(config, start_redis=start_redis)
        first = [s for s in self.services if s.name in ("redis", "moto")]
        rest = [s for s in self.services if s not in first]
        # AWS and Redis first: everything else talks to them as soon as it starts.
        for service in first:
            self.start(service)
        self.wait_ready(first)
        for service in rest:
            self.start(service)
        self.wait_ready(rest)
        return self._announce()

    def _announce(self) -> dict[str, Any]:
        config = self.config
        token = self._admin_token()
        roots = app_environment(config)["BORGOS_PROJECT_ROOTS"].split(os.pathsep)
        info = {
            "api_url": config.api_url,
            "docs_url": f"{config.api_url}/docs",
            "ws_url": config.ws_url,
            "management_url": config.management_url,
            "moto_url": config.moto_url,
            "redis_url": config.redis_url,
            "token": token,
            "state_dir": str(config.state_dir),
            "project_roots": roots,
            "pid": os.getpid(),
        }
        write_atomic(config.local_json, json.dumps(info, indent=2).encode())
        os.chmod(config.local_json, 0o600)
        self.say(
            "\nBorgOS local stack is ready\n"
            f"  API       {info['api_url']}\n"
            f"  docs      {info['docs_url']}\n"
            f"  ws_url    {info['ws_url']}\n"
            f"  token     {token}\n"
            f"  projects  {', '.join(roots)} (project roots: register and scan under these)\n"
            f"  written   {config.local_json}\n"
            f"  logs      {config.logs_dir}/\n"
            "Ctrl-C stops everything.\n"
        )
        return info

    def _admin_token(self) -> str:
        """The previous admin token while it still works (data survive restarts), else a new one."""
        from chalicelib import aws
        from chalicelib.config import reset_settings
        from chalicelib.store.table import reset_store
        from chalicelib.tokens import bootstrap_admin_token

        os.environ.update(app_environment(self.config))
        reset_settings()
        aws.reset_clients()
        reset_store()
        saved = self.config.state_dir / "admin-token"
        existing = saved.read_text().strip() if saved.exists() else None
        token = bootstrap_admin_token(existing)
        if token != existing:
            write_atomic(saved, token.encode())
            os.chmod(saved, 0o600)
        return token

    # supervising

    def supervise(self) -> None:
        """Restart services that die (backoff 1, 2, 4 .. 30 s), until asked to stop."""
        while not self.stopping.wait(0.5):
            for service in self.services:
                assert service.process is not None
                code = service.process.poll()
                if code is None:
                    continue
                if time.monotonic() - service.started_at > 60:
                    service.failures = 0  # it had been running fine
                delay = min(2**service.failures, 30)
                service.failures += 1
                logger.warning(
                    "service exited; restarting", service=service.name, exit_code=code, delay=delay
                )
                self._stop_group(service, timeout=5)  # whatever it left in its group
                if self.stopping.wait(delay):
                    return
                self.start(service)

    # stopping

    def _stop_group(self, service: Service, timeout: float) -> None:
        process = service.process
        if process is None:
            return
        pgid = process.pid  # leader of its own session and group
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None or _group_alive(pgid):
            logger.warning("service did not stop; killing", service=service.name)
            _signal_group(pgid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        """Stop in an order that loses nothing: no new requests first, the pump's last batch and
        the final snapshot before AWS goes, Redis last."""
        by_name = {s.name: s for s in self.services}
        for group in (("api", "ws", "worker"), ("triggers",), ("moto",), ("redis",)):
            members = [by_name[name] for name in group if name in by_name]
            threads = [threading.Thread(target=self._stop_group, args=(s, 20.0)) for s in members]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        for service in self.services:
            if service.log:
                service.log.close()
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(self.config.local_json.read_text()).get("pid") == os.getpid():
                self.config.local_json.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv, "python -m infra.local.stack")
    supervisor = Supervisor(config)

    set_on_signals(supervisor.stopping, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    code = 0
    try:
        supervisor.start_all()
        supervisor.supervise()
    except StackError as exc:
        if not supervisor.stopping.is_set():
            supervisor.say(f"local stack failed: {exc}")
            code = 1
    finally:
        supervisor.say("stopping the local stack...")
        supervisor.stop_all()
        supervisor.say("stopped.")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
