"""A tiny image for real Docker tests: FROM scratch with the static busybox (no registry needed),
serving /www over HTTP on port 8080 with `GET /health` -> 200 unless built without it."""

from __future__ import annotations

import shutil
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
IMAGE = "borgos-test/busybox-httpd:latest"
PORT = 8080

DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""


def write_project(directory: Path, *, healthy: bool = True, broken: bool = False, marker: str = "ok") -> Path:
    """A project directory with a Dockerfile: `healthy=False` serves no /health (404), `broken=True`
    has a Dockerfile that fails to build; `marker` is served at /marker to tell revisions apart."""
    directory.mkdir(parents=True, exist_ok=True)
    www = directory / "www"
    www.mkdir(exist_ok=True)
    if healthy:
        (www / "health").write_text("ok\n")
    (www / "marker").write_text(marker + "\n")
    shutil.copy2(BUSYBOX, directory / "busybox")
    text = DOCKERFILE if not broken else DOCKERFILE.replace("COPY www /www", "COPY missing-dir /www")
    (directory / "Dockerfile").write_text(text)
    return directory


def ensure_image(workdir: Path) -> str:
    """Build (or reuse from the engine's cache) the healthy test image; returns its tag."""
    import docker

    client = docker.from_env()
    context = write_project(workdir / "busybox-image")
    client.images.build(path=str(context), tag=IMAGE, rm=True, forcerm=True)
    return IMAGE
