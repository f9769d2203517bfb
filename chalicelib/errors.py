"""The one error type the API speaks. Domain code raises these; the route layer turns them into the
documented envelope: {"error", "message", "code", "request_id", "details"?}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    title = "Internal server error"
    code = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.title,
            "message": self.message,
            "code": self.code,
            "request_id": request_id,
        }
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(ApiError):
    status, title, code = 400, "Invalid request", "VALIDATION_ERROR"

    @classmethod
    def field(cls, field: str, problem: str) -> ValidationFailed:
        return cls(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


class BadRequest(ApiError):
    """A 400 with its own code (PORT_IN_USE, BAD_CURSOR, ...)."""

    status, title, code = 400, "Invalid request", "BAD_REQUEST"


class Unauthorized(ApiError):
    status, title, code = 401, "Unauthorized", "UNAUTHORIZED"

    def __init__(self, message: str = "Invalid or missing authentication token") -> None:
        super().__init__(message)


class Forbidden(ApiError):
    status, title, code = 403, "Forbidden", "FORBIDDEN"


class NotFound(ApiError):
    status, title, code = 404, "Not found", "NOT_FOUND"

    @classmethod
    def entity(cls, kind: str, ident: object) -> NotFound:
        return cls(f"{kind} with id {ident} not found")


class Conflict(ApiError):
    status, title, code = 409, "Conflict", "CONFLICT"


class IdempotencyInProgress(Conflict):
    """A retry arrived while the request that first used its Idempotency-Key is still running."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class PayloadTooLarge(ApiError):
    status, title, code = 413, "Payload too large", "PAYLOAD_TOO_LARGE"


class Unprocessable(ApiError):
    status, title, code = 422, "Unprocessable request", "UNPROCESSABLE"


class IdempotencyKeyReused(Unprocessable):
    """An Idempotency-Key sent again with another request (method, path, query or body)."""

    code = "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ApiError):
    status, title, code = 429, "Too many requests", "RATE_LIMITED"


class DependencyUnavailable(ApiError):
    status, title, code = 503, "Service unavailable", "DEPENDENCY_UNAVAILABLE"


class InternalError(ApiError):
    status, title, code = 500, "Internal server error", "INTERNAL"

    def __init__(self) -> None:
        super().__init__("An unexpected error occurred")
