"""Inbound GitHub webhooks: X-Hub-Signature-256 verification and push events.

GitHub signs the raw body with HMAC-SHA256 under the hook's secret (UTF-8) and sends
`sha256=<hex digest>`. A push to the project's configured branch triggers a rescan and redeploy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from pydantic import ConfigDict, ValidationError

from chalicelib.models.common import Model
from chalicelib.webhooks.errors import SignatureVerificationError, WebhookInputError

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_PREFIX = "sha256="
_BRANCH_PREFIX = "refs/heads/"
_TAG_PREFIX = "refs/tags/"


def compute_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for body: `sha256=<hex>`."""
    if not secret:
        raise ValueError("the hook secret must not be empty")
    return _PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise SignatureVerificationError unless header is the body's signature (constant-time compare)."""
    if not header:
        raise SignatureVerificationError(f"missing {SIGNATURE_HEADER}")
    if not header.startswith(_PREFIX):
        raise SignatureVerificationError(f"{SIGNATURE_HEADER} must start with {_PREFIX!r}")
    expected = compute_signature(secret, body)
    if not hmac.compare_digest(expected.encode("ascii"), header.strip().lower().encode("utf-8")):
        raise SignatureVerificationError(f"{SIGNATURE_HEADER} does not match the body")


@dataclass(frozen=True)
class PushEvent:
    ref: str
    branch: str | None  # set for refs/heads/...
    tag: str | None  # set for refs/tags/...
    before: str
    after: str
    deleted: bool
    repository: str | None  # "owner/name"
    head_commit: str | None


class _Repository(Model):
    model_config = ConfigDict(extra="ignore")
    full_name: str | None = None


class _Commit(Model):
    model_config = ConfigDict(extra="ignore")
    id: str


class _PushPayload(Model):
    model_config = ConfigDict(extra="ignore")
    ref: str
    before: str = ""
    after: str = ""
    deleted: bool = False
    repository: _Repository | None = None
    head_commit: _Commit | None = None


def branch_from_ref(ref: str) -> str | None:
    """`refs/heads/main` -> `main`; None for tags and other refs."""
    return _strip_prefix(ref, _BRANCH_PREFIX)


def parse_push(body: bytes) -> PushEvent:
    """Parse a push event's JSON body. Raises WebhookInputError when it is not one."""
    try:
        payload = _PushPayload.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WebhookInputError(f"not a GitHub push payload: {_first_line(exc)}", field="body") from None
    ref = payload.ref
    return PushEvent(
        ref=ref,
        branch=branch_from_ref(ref),
        tag=_strip_prefix(ref, _TAG_PREFIX),
        before=payload.before,
        after=payload.after,
        deleted=payload.deleted,
        repository=payload.repository.full_name if payload.repository else None,
        head_commit=payload.head_commit.id if payload.head_commit else None,
    )


def should_redeploy(event: PushEvent, branch: str) -> bool:
    """A push that adds commits to the configured branch (branch deletions do not redeploy)."""
    return event.branch == branch and not event.deleted


def _strip_prefix(ref: str, prefix: str) -> str | None:
    rest = ref.removeprefix(prefix)
    return rest if ref.startswith(prefix) and rest else None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
