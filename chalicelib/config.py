"""The one configuration object. Every setting comes from the environment (Chalice stage config
in AWS, the local stack's supervisor locally), so the same code talks to moto and to AWS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    stage: str = field(default_factory=lambda: _env("BORGOS_STAGE", "local"))
    region: str = field(default_factory=lambda: _env("AWS_DEFAULT_REGION", "us-east-1"))
    table_name: str = field(default_factory=lambda: _env("BORGOS_TABLE", "borgos"))
    bucket_name: str = field(default_factory=lambda: _env("BORGOS_BUCKET", "borgos-artifacts"))
    # Empty means "the real AWS endpoint"; locally these point at the moto server.
    dynamodb_endpoint: str = field(default_factory=lambda: _env("BORGOS_DYNAMODB_ENDPOINT"))
    s3_endpoint: str = field(default_factory=lambda: _env("BORGOS_S3_ENDPOINT"))
    websocket_endpoint: str = field(default_factory=lambda: _env("BORGOS_WEBSOCKET_ENDPOINT"))
    redis_url: str = field(default_factory=lambda: _env("BORGOS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    # JWT: HS256 secret or a JWKS URL; issuer and audience are always checked when set.
    jwt_hs256_secret: str = field(default_factory=lambda: _env("BORGOS_JWT_HS256_SECRET"))
    jwt_jwks_url: str = field(default_factory=lambda: _env("BORGOS_JWT_JWKS_URL"))
    jwt_issuer: str = field(default_factory=lambda: _env("BORGOS_JWT_ISSUER"))
    jwt_audience: str = field(default_factory=lambda: _env("BORGOS_JWT_AUDIENCE"))
    jwt_tenant_claim: str = field(default_factory=lambda: _env("BORGOS_JWT_TENANT_CLAIM", "tenant"))
    rate_limit_per_minute: int = field(default_factory=lambda: _env_int("BORGOS_RATE_LIMIT_PER_MINUTE", 60))
    rate_limit_burst: int = field(default_factory=lambda: _env_int("BORGOS_RATE_LIMIT_BURST", 100))
    max_body_bytes: int = field(default_factory=lambda: _env_int("BORGOS_MAX_BODY_BYTES", 1024 * 1024))
    error_retention_days: int = field(default_factory=lambda: _env_int("BORGOS_ERROR_RETENTION_DAYS", 30))
    event_retention_days: int = field(default_factory=lambda: _env_int("BORGOS_EVENT_RETENTION_DAYS", 7))
    allow_private_webhook_targets: bool = field(
        default_factory=lambda: _env_bool("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS")
    )
    # WebSocket: messages one connection may send per second before it is closed (conventions: 10).
    websocket_messages_per_second: int = field(
        default_factory=lambda: _env_int("BORGOS_WEBSOCKET_MESSAGES_PER_SECOND", 10)
    )
    # Threads the stream handler posts WebSocket frames with (fan-out to many connections).
    fanout_workers: int = field(default_factory=lambda: _env_int("BORGOS_FANOUT_WORKERS", 32))
    # Scheduled tasks: run history kept per task (newest N, and finished runs younger than D days).
    scheduler_history_keep: int = field(
        default_factory=lambda: _env_int("BORGOS_SCHEDULER_HISTORY_KEEP", 100)
    )
    scheduler_history_days: int = field(default_factory=lambda: _env_int("BORGOS_SCHEDULER_HISTORY_DAYS", 30))
    # Tests only: a file holding the RFC 3339 instant the scheduler tick takes as "now".
    scheduler_clock_file: str = field(default_factory=lambda: _env("BORGOS_SCHEDULER_CLOCK_FILE"))
    audit_retention_days: int = field(default_factory=lambda: _env_int("BORGOS_AUDIT_RETENTION_DAYS", 90))
    # Agent tasks: the image `shell` tasks run in (never the host itself), and its default limits.
    shell_image: str = field(default_factory=lambda: _env("BORGOS_SHELL_IMAGE", "busybox:stable"))
    # How long a worker waits for a starting Agent Zero to answer GET /health.
    agent_zero_start_wait_s: int = field(
        default_factory=lambda: _env_int("BORGOS_AGENT_ZERO_START_WAIT_S", 120)
    )
    # Directories under which project paths may live (os.pathsep separated); empty = any absolute path.
    project_roots: tuple[str, ...] = field(
        default_factory=lambda: tuple(p for p in _env("BORGOS_PROJECT_ROOTS").split(os.pathsep) if p)
    )
    # The worker host deployments go to when a request names none (empty: the first online host).
    deploy_default_host: str = field(default_factory=lambda: _env("BORGOS_DEPLOY_HOST"))
    # Seconds a new container has to answer its health check before its revision is failed.
    deploy_health_timeout: int = field(default_factory=lambda: _env_int("BORGOS_DEPLOY_HEALTH_TIMEOUT", 60))
    # Scans and search (docs/scanning.md, docs/search.md).
    default_host: str = field(default_factory=lambda: _env("BORGOS_DEFAULT_HOST", "local"))
    scan_max_file_bytes: int = field(
        default_factory=lambda: _env_int("BORGOS_SCAN_MAX_FILE_BYTES", 1024 * 1024)
    )
    search_cache_dir: str = field(
        default_factory=lambda: _env("BORGOS_SEARCH_CACHE_DIR", "/tmp/borgos-search")
    )
    search_cache_max_bytes: int = field(
        default_factory=lambda: _env_int("BORGOS_SEARCH_CACHE_MAX_BYTES", 384 * 1024 * 1024)
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
