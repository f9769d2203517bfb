import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.webhooks import signing
from chalicelib.webhooks.models import (
    DeliveryAttempt,
    WebhookCreate,
    WebhookEndpoint,
    WebhookMessage,
    WebhookUpdate,
)
from chalicelib.webhooks.retry import Action

REFERENCE_EXAMPLE = {
    "url": "https://your-app.com/webhook",
    "events": ["project.created", "deployment.failed", "error.critical"],
    "secret": "your-webhook-secret",
}


def error_fields(exc: ValidationError) -> set[str]:
    return {str(error["loc"][0]) if error["loc"] else "__root__" for error in exc.errors()}


def test_the_reference_example_is_accepted() -> None:
    hook = WebhookCreate.model_validate(REFERENCE_EXAMPLE)
    assert hook.url == REFERENCE_EXAMPLE["url"]
    assert hook.events == REFERENCE_EXAMPLE["events"]
    assert signing.secret_key(hook.secret) == b"your-webhook-secret"
    assert hook.enabled is True and hook.description is None


@pytest.mark.parametrize("payload", [{}, {"secret": None}])
def test_a_missing_secret_is_generated(payload: dict) -> None:
    first = WebhookCreate.model_validate({"url": "https://a.example/h", "events": ["*"], **payload})
    second = WebhookCreate.model_validate({"url": "https://a.example/h", "events": ["*"], **payload})
    assert first.secret.startswith("whsec_") and len(signing.secret_key(first.secret)) == 32
    assert first.secret != second.secret


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://x.example/"}, "url"),
        ({"url": "https://user:pw@x.example/"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["deploy*"]}, "events"),
        ({"events": "project.created"}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": "whsec_!!!"}, "secret"),
        ({"description": "d" * 501}, "description"),
        ({"enabled": "maybe"}, "enabled"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_create_input_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookCreate.model_validate({**REFERENCE_EXAMPLE, **change})
    assert error_fields(info.value) == {field}


def test_create_requires_url_and_events() -> None:
    with pytest.raises(ValidationError) as info:
        WebhookCreate.model_validate({})
    assert error_fields(info.value) == {"url", "events"}


def test_update_changes_only_what_was_sent() -> None:
    update = WebhookUpdate.model_validate({"events": ["deployment.*", "deployment.*"], "description": None})
    assert update.changes() == {"events": ["deployment.*"], "description": None}
    rotated = WebhookUpdate.model_validate({"secret": "a-new-passphrase-long-enough"})
    assert rotated.changes()["secret"].startswith("whsec_")


def test_update_refuses_empty_and_null_required_fields() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        WebhookUpdate.model_validate({})
    with pytest.raises(ValidationError, match="enabled, url may not be null"):
        WebhookUpdate.model_validate({"url": None, "enabled": None})


@pytest.mark.parametrize(
    ("change", "field"),
    [({"url": "gopher://x/"}, "url"), ({"events": ["a..b"]}, "events"), ({"secret": "tiny"}, "secret")],
)
def test_update_validates_like_create(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookUpdate.model_validate(change)
    assert error_fields(info.value) == {field}


def test_message_body_is_compact_standard_webhooks_json_and_stable() -> None:
    message = WebhookMessage(
        id="msg_1",
        type="deployment.failed",
        timestamp=datetime(2024, 1, 15, 12, 30, 0, 999, tzinfo=timezone(timedelta(hours=2))),
        data={"deployment_id": 7, "error": "exit 1", "tags": ["a", "é"]},
    )
    expected = {
        "type": "deployment.failed",
        "timestamp": "2024-01-15T10:30:00Z",
        "data": {"deployment_id": 7, "error": "exit 1", "tags": ["a", "é"]},
    }
    assert json.loads(message.body()) == expected
    assert b" " not in message.body().replace(b"exit 1", b"")
    assert message.body() == WebhookMessage.model_validate(message.model_dump()).body()


def test_messages_get_fresh_ids() -> None:
    made = [WebhookMessage(type="ping", timestamp=datetime.now(UTC), data={}) for _ in range(3)]
    assert len({message.id for message in made}) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "deployment.*"}, "type"),
        ({"id": "msg.1"}, "id"),
        ({"timestamp": datetime(2024, 1, 1)}, "timestamp"),
        ({"data": {"when": datetime(2024, 1, 1, tzinfo=UTC)}}, "data"),
        ({"data": [1, 2]}, "data"),
    ],
)
def test_bad_messages_are_refused(change: dict, field: str) -> None:
    base = {"type": "ping", "timestamp": datetime.now(UTC), "data": {}}
    with pytest.raises(ValidationError) as info:
        WebhookMessage.model_validate({**base, **change})
    assert error_fields(info.value) == {field}


def test_endpoint_wants_matching_events_only_while_enabled() -> None:
    endpoint = WebhookEndpoint(
        id="wh_1", url="https://a.example/", secret=signing.generate_secret(), events=["deployment.*"]
    )
    assert endpoint.wants("deployment.failed")
    assert not endpoint.wants("project.created")
    assert not endpoint.model_copy(update={"enabled": False}).wants("deployment.failed")


def test_endpoint_needs_a_whsec_secret() -> None:
    with pytest.raises(ValidationError):
        WebhookEndpoint(id="wh_1", url="https://a.example/", secret="plain-text-secret-here", events=["*"])


def test_delivery_attempt_serializes_rfc3339_utc() -> None:
    attempt = DeliveryAttempt(
        message_id="msg_1",
        endpoint_id="wh_1",
        event_type="ping",
        attempt=2,
        attempted_at=datetime(2024, 1, 15, 11, 30, 5, 123456, tzinfo=timezone(timedelta(hours=1))),
        url="https://a.example/",
        status_code=503,
        duration_ms=12.5,
        error="HTTP 503",
        outcome=Action.RETRY,
        next_attempt_at=datetime(2024, 1, 15, 10, 35, 5, tzinfo=UTC),
    )
    dumped = attempt.model_dump(mode="json")
    assert dumped["attempted_at"] == "2024-01-15T10:30:05Z"
    assert dumped["next_attempt_at"] == "2024-01-15T10:35:05Z"
    assert dumped["outcome"] == "retry"
    with pytest.raises(ValidationError):
        DeliveryAttempt.model_validate({**dumped, "attempt": 0})


def test_the_lambda_side_imports_no_http_client() -> None:
    code = (
        "import sys\n"
        "import chalicelib.webhooks.errors, chalicelib.webhooks.github, chalicelib.webhooks.inbound\n"
        "import chalicelib.webhooks.matching, chalicelib.webhooks.models, chalicelib.webhooks.retry\n"
        "import chalicelib.webhooks.signing, chalicelib.webhooks.targets\n"
        "heavy = ('httpx', 'httpcore', 'requests', 'standardwebhooks')\n"
        "print(sorted(name for name in heavy if name in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"
