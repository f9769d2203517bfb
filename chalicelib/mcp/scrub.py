"""Keep secret values out of everything a tool returns (MCP, /mcp/query and what an LLM is shown).

The rule, applied to a JSON-like value (dicts, lists, strings, numbers):

1. Sensitive key names. A mapping value is masked when its key, normalised to snake_case
   (``apiKey``, ``X-API-KEY`` and ``API_KEY`` all become ``api_key``), ends with a sensitive word
   (``secret``, ``password``, ``token``, ``credentials``, ...) or a sensitive pair (``api_key``,
   ``private_key``, ``access_key``, ...). So ``DB_PASSWORD``, ``webhook_secret``, ``GITHUB_TOKEN``
   and ``STRIPE_SECRET_KEY`` are masked, while ``tokens_used``, ``token_id`` and ``max_tokens``
   are not. ``None`` and booleans are left alone: they reveal nothing (``has_password: true``).
2. Entries marked sensitive. A mapping with ``"sensitive": true`` has its ``value`` masked
   (the list form of an environment: ``[{"name": "DB_URL", "value": "...", "sensitive": true}]``).
3. Names marked sensitive. A mapping carrying ``"sensitive_keys": ["DB_URL", ...]`` has the values
   of those names masked anywhere inside it (a deployment's ``environment`` map, for instance).
4. Known secret values. Strings given to :func:`scrub` as ``known_secrets`` (for example the values
   of a deployment's sensitive variables) are masked wherever they appear inside any string, such
   as a log line. Values shorter than 4 characters are ignored (masking "1" everywhere helps nobody).
5. Recognisable credentials inside any string: a URL's password (``postgres://u:pw@h``), the
   credentials after ``Bearer``/``Basic``, BorgOS API tokens (``borg_...``), OpenAI-style keys
   (``sk-...``) and AWS access key ids (``AKIA...``).

Masked values become ``MASK`` so callers still see that a value exists.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

MASK = "********"
MIN_KNOWN_SECRET_LENGTH = 4

_SENSITIVE_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "credential",
        "credentials",
        "authorization",
        "cookie",
        "apikey",
    }
)
_SENSITIVE_SUFFIXES = (
    "api_key",
    "private_key",
    "secret_key",
    "access_key",
    "signing_key",
    "encryption_key",
    "session_key",
    "ssh_key",
    "client_secret",
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-zA-Z0-9]+")
_VALUE_PATTERNS = (
    # URL userinfo password: keep scheme and user, mask what sits between ':' and '@'.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"), rf"\g<1>{MASK}"),
    (re.compile(r"(\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{MASK}"),
    (re.compile(r"\bborg_[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
)


def normalise_key(key: str) -> str:
    """``apiKey`` / ``X-API-KEY`` / ``api key`` -> ``api_key`` / ``x_api_key`` / ``api_key``."""
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", key)).strip("_").lower()


def is_sensitive_key(key: str) -> bool:
    name = normalise_key(key)
    return name.rsplit("_", 1)[-1] in _SENSITIVE_WORDS or name.endswith(_SENSITIVE_SUFFIXES)


def scrub(value: Any, known_secrets: Collection[str] = ()) -> Any:
    """Return a copy of a JSON-like ``value`` with secret values replaced by ``MASK``."""
    secrets = sorted({s for s in known_secrets if len(s) >= MIN_KNOWN_SECRET_LENGTH}, key=len, reverse=True)
    return _scrub(value, secrets, frozenset())


def _scrub(value: Any, secrets: list[str], marked: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return _scrub_mapping(value, secrets, marked)
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets, marked) for item in value]
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    return value


def _scrub_mapping(value: Mapping[Any, Any], secrets: list[str], marked: frozenset[str]) -> dict[Any, Any]:
    listed = value.get("sensitive_keys")
    if isinstance(listed, list | tuple):
        marked = marked | {str(name) for name in listed}
    entry_is_sensitive = value.get("sensitive") is True
    out: dict[Any, Any] = {}
    for key, item in value.items():
        name = str(key)
        masked = is_sensitive_key(name) or name in marked or (entry_is_sensitive and name == "value")
        if masked and _reveals_something(item):
            out[key] = MASK
        elif name == "sensitive_keys":
            out[key] = item  # names are not secrets; their values are
        else:
            out[key] = _scrub(item, secrets, marked)
    return out


def _reveals_something(item: Any) -> bool:
    return item is not None and not isinstance(item, bool) and item != ""


def _scrub_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
