"""Images of deployments: built from a project's Dockerfile or taken as given, tagged
`borgos/<tenant>-d<deployment>:r<revision>` so each revision keeps its image and old ones can be pruned."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker.errors
from docker.models.images import Image

from workers import docker_engine
from workers.docker_spec import LABEL_DEPLOYMENT, LABEL_MANAGED, LABEL_REVISION, LABEL_TENANT

REPOSITORY_PREFIX = "borgos/"
MAX_LOG_CHARS = 200_000
_REVISION_TAG = re.compile(r"^r(\d+)$")


class ImageError(RuntimeError):
    """An image could not be built or found; `log` holds the build output when there was a build."""

    def __init__(self, reason: str, log: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log = log


@dataclass(frozen=True)
class BuiltImage:
    image_id: str  # sha256:...
    tag: str
    log: str


def deployment_key(tenant: str, deployment_id: int) -> str:
    return f"{tenant}-d{deployment_id}"


def image_tag(tenant: str, deployment_id: int, revision: int) -> str:
    return f"{REPOSITORY_PREFIX}{deployment_key(tenant, deployment_id)}:r{revision}"


def build_image(
    context_dir: str | Path,
    *,
    tenant: str,
    deployment_id: int,
    revision: int,
    dockerfile: str = "Dockerfile",
    on_log: Callable[[str], None] | None = None,
) -> BuiltImage:
    """Build `context_dir/dockerfile`; the build log streams to `on_log` line by line and comes back
    whole. Raises ImageError (with the log) when the Dockerfile is missing or the build fails."""
    context = Path(context_dir)
    if not (context / dockerfile).is_file():
        raise ImageError(f"no {dockerfile} in {context}")
    tag = image_tag(tenant, deployment_id, revision)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if on_log is not None:
            on_log(line)

    image_id = ""
    labels = {
        LABEL_MANAGED: "1",
        LABEL_TENANT: tenant,
        LABEL_DEPLOYMENT: str(deployment_id),
        LABEL_REVISION: str(revision),
    }
    try:
        stream = docker_engine.api().build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels=labels,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    log(line)
            if "error" in chunk:
                log(str(chunk["error"]).rstrip())
                raise ImageError(f"build failed: {str(chunk['error']).strip()}", _joined(lines))
            aux = chunk.get("aux") or {}
            if "ID" in aux:
                image_id = str(aux["ID"])
    except docker.errors.APIError as exc:
        log(str(exc))
        raise ImageError(f"build failed: {exc.explanation or exc}", _joined(lines)) from exc
    if not image_id:
        image_id = str(docker_engine.client().images.get(tag).id)
    return BuiltImage(image_id=image_id, tag=tag, log=_joined(lines))


def use_image(reference: str, *, tenant: str, deployment_id: int, revision: int) -> BuiltImage:
    """Take an image as given (pulled when absent) and tag it for the revision."""
    image = find_image(reference)
    log = f"using local image {reference}"
    if image is None:
        try:
            image = docker_engine.client().images.pull(reference)
            log = f"pulled {reference}"
        except docker.errors.APIError as exc:
            raise ImageError(f"image {reference} is not available: {exc.explanation or exc}") from exc
    tag = image_tag(tenant, deployment_id, revision)
    tag_image(image, tag)
    return BuiltImage(image_id=str(image.id), tag=tag, log=log)


def find_image(reference: str) -> Image | None:
    """The local image a reference (id, name or tag) names, or None."""
    try:
        return docker_engine.client().images.get(reference)
    except docker.errors.ImageNotFound:
        return None


def image_exists(image_id: str) -> bool:
    return find_image(image_id) is not None


def tag_image(image: Image, tag: str) -> None:
    """Give `image` the tag (a no-op when it has it already: a retried job, a rollback)."""
    if tag not in image.tags:
        repository, _, version = tag.rpartition(":")
        image.tag(repository, version)


def prune_images(key: str, keep: int = 3, *, protect: frozenset[str] = frozenset()) -> list[str]:
    """Remove the images of deployment `key` (see deployment_key) but the newest `keep` revisions, those
    in `protect` (ids) and those a container still uses. Returns the removed tags."""
    repository = f"{REPOSITORY_PREFIX}{key}"
    tagged: list[tuple[int, str, str]] = []
    for image in docker_engine.client().images.list(name=repository):
        for tag in image.tags:
            repo, _, version = tag.rpartition(":")
            match = _REVISION_TAG.match(version)
            if repo == repository and match:
                tagged.append((int(match.group(1)), tag, str(image.id)))
    tagged.sort(reverse=True)
    removed = []
    for _, tag, image_id in tagged[keep:]:
        if image_id in protect:
            continue
        try:
            # Removes the tag; the engine deletes the image once no tag and no container holds it.
            docker_engine.client().images.remove(tag, noprune=False)
            removed.append(tag)
        except docker.errors.APIError:
            continue  # in use by a container: kept until that container goes
    return removed


def _joined(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text[-MAX_LOG_CHARS:]
