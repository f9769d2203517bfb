"""Errors of the webhooks core. The API maps WebhookInputError to 400 (VALIDATION_ERROR, with `field`)
and SignatureVerificationError to 401; neither carries secrets in its message."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of every error raised by chalicelib.webhooks."""


class WebhookInputError(WebhookError, ValueError):
    """Bad input from a user (URL, events, secret). A ValueError so pydantic validators report it."""

    field: str = "webhook"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidSecretError(WebhookInputError):
    field = "secret"


class InvalidEventNameError(WebhookInputError):
    field = "events"


class InvalidTargetError(WebhookInputError):
    """The URL itself is malformed or uses something we never deliver to (scheme, credentials)."""

    field = "url"


class TargetRefusedError(InvalidTargetError):
    """The URL is well formed but its host resolves to an address we refuse (SSRF protection)."""


class UnresolvableTargetError(InvalidTargetError):
    """The host name does not resolve."""


class SignatureVerificationError(WebhookError):
    """An inbound or outbound signature did not verify (missing, malformed, stale or wrong)."""
