"""A Docker engine of a test's own, for what must not happen to the machine's shared one (restarting
it). It has its own data root, exec root, pid file, socket and bridge; iptables is left alone (the
shared engine's rules stay as they are) and published ports go through docker-proxy. Needs root,
dockerd and iproute2; `PrivateDockerd.start` raises EngineUnavailable otherwise."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors

START_SECONDS = 60.0
STOP_SECONDS = 60.0


class EngineUnavailable(RuntimeError):
    """The private engine cannot run here (not root, no dockerd, or it did not come up)."""


class PrivateDockerd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.pidfile = root / "dockerd.pid"
        self.log = root / "dockerd.log"
        self.url = f"unix://{self.socket}"
        suffix = f"{random.randrange(16**4):04x}"
        self.bridge = f"borgos{suffix}"  # at most 15 characters (IFNAMSIZ)
        self.subnet = f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
        self._process: subprocess.Popen[bytes] | None = None

    def create_bridge(self) -> None:
        for command in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise EngineUnavailable(f"{' '.join(command)}: {done.stderr.strip()}")

    def delete_bridge(self) -> None:
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def start(self) -> None:
        command = [
            "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.pidfile}",
            f"--host={self.url}",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip6tables=false",
        ]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_SECONDS
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise EngineUnavailable(f"private dockerd did not come up:\n{tail}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            client = docker.DockerClient(base_url=self.url, timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except docker.errors.DockerException:
            return False

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the engine stops its containers and exits."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def private_dockerd() -> Iterator[PrivateDockerd]:
    """A running private engine; everything it made (containers, images, bridge) goes at the end."""
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("ip"):
        raise EngineUnavailable("a private dockerd needs root, dockerd and iproute2")
    # Short: containerd's sockets live under the exec root, and socket paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="bd", dir="/tmp"))
    engine = PrivateDockerd(root)
    try:
        engine.create_bridge()
        engine.start()
        yield engine
    finally:
        if engine._answers():
            client = docker.DockerClient(base_url=engine.url, timeout=30)
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        engine.stop()
        engine.delete_bridge()
        shutil.rmtree(root, ignore_errors=True)
