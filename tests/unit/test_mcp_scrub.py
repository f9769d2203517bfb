"""The secret scrubber's rule, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.mcp.scrub import MASK, is_sensitive_key, normalise_key, scrub


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("apiKey", "api_key"),
        ("X-API-KEY", "x_api_key"),
        ("DB_PASSWORD", "db_password"),
        ("client secret", "client_secret"),
    ],
)
def test_keys_are_normalised_to_snake_case(key: str, normalised: str) -> None:
    assert normalise_key(key) == normalised


@pytest.mark.parametrize(
    "key",
    [
        "secret",
        "password",
        "DB_PASSWORD",
        "webhook_secret",
        "GITHUB_TOKEN",
        "access_token",
        "apiKey",
        "X-API-KEY",
        "api_key",
        "STRIPE_SECRET_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "private_key",
        "Authorization",
        "client_secret",
        "credentials",
        "passwd",
        "ssh_key",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "tokens_used",
        "token_id",
        "max_tokens",
        "id",
        "name",
        "key",
        "NODE_ENV",
        "port",
        "sensitive",
        "secret_ref",
    ],
)
def test_ordinary_keys(key: str) -> None:
    assert not is_sensitive_key(key)


def test_sensitive_values_are_masked_at_any_depth() -> None:
    value = {"projects": [{"env": {"REDIS_PASSWORD": "abc12345", "PORT": "8080"}}]}

    assert scrub(value) == {"projects": [{"env": {"REDIS_PASSWORD": MASK, "PORT": "8080"}}]}


def test_nothing_to_hide_stays_visible() -> None:
    value = {"password": None, "has_password": True, "token": "", "secret": False}

    assert scrub(value) == value


def test_nested_structures_under_a_sensitive_key_are_masked_whole() -> None:
    assert scrub({"credentials": {"user": "u", "pass": "p"}}) == {"credentials": MASK}


def test_entries_marked_sensitive_hide_their_value() -> None:
    env = [
        {"name": "DATABASE_URL", "value": "mysql://db/app", "sensitive": True},
        {"name": "LOG_LEVEL", "value": "debug", "sensitive": False},
    ]

    assert scrub(env) == [
        {"name": "DATABASE_URL", "value": MASK, "sensitive": True},
        {"name": "LOG_LEVEL", "value": "debug", "sensitive": False},
    ]


def test_names_listed_as_sensitive_are_masked_inside_the_object() -> None:
    deployment: dict[str, Any] = {
        "id": 2,
        "environment": {"LICENSE": "ABCD-EFGH", "NODE_ENV": "staging"},
        "sensitive_keys": ["LICENSE"],
    }

    assert scrub(deployment) == {
        "id": 2,
        "environment": {"LICENSE": MASK, "NODE_ENV": "staging"},
        "sensitive_keys": ["LICENSE"],
    }


def test_sensitive_keys_only_apply_inside_their_object() -> None:
    value = {"a": {"sensitive_keys": ["X"], "X": "hidden"}, "b": {"X": "visible"}}

    assert scrub(value) == {"a": {"sensitive_keys": ["X"], "X": MASK}, "b": {"X": "visible"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:hunter2@db:5432/app", f"postgres://app:{MASK}@db:5432/app"),
        ("redis://:s3cret@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("https://example.com/path?q=1", "https://example.com/path?q=1"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", f"Authorization: Bearer {MASK}"),
        ("use borg_AbCdEf0123456789 to log in", f"use {MASK} to log in"),
        ("OPENAI=sk-proj-abcdefghijklmnop1234", f"OPENAI={MASK}"),
        ("aws AKIAIOSFODNN7EXAMPLE key", f"aws {MASK} key"),
        ("token budget: 125 tokens used", "token budget: 125 tokens used"),
    ],
)
def test_recognisable_credentials_in_text(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_known_secrets_are_masked_in_text_but_short_ones_are_ignored() -> None:
    lines = ["password is pa55word!", "exit code 1"]

    assert scrub(lines, known_secrets={"pa55word!", "1"}) == [f"password is {MASK}", "exit code 1"]


def test_overlapping_known_secrets_mask_the_longest_first() -> None:
    assert scrub("key=abcdef123456", known_secrets={"abcd", "abcdef123456"}) == f"key={MASK}"


def test_scrub_does_not_mutate_its_input() -> None:
    value = {"secret": "x-value", "list": [{"token": "t-value"}]}

    scrub(value)

    assert value == {"secret": "x-value", "list": [{"token": "t-value"}]}
