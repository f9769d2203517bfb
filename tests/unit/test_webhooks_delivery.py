"""Deliveries over real HTTP to a loopback receiver, verified with the standardwebhooks package."""

import json
import random
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.webhooks.models import WebhookEndpoint, WebhookMessage
from chalicelib.webhooks.retry import Action
from chalicelib.webhooks.signing import generate_secret
from tests.support.webhook_receiver import Reply, WebhookReceiver
from tests.support.webhook_tls import issue_certificates
from workers.webhook_delivery import RESPONSE_EXCERPT_BYTES, deliver, make_client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=5) as http:
        yield http


def endpoint_for(url: str, **fields: object) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate(
        {"id": "wh_1", "url": url, "secret": generate_secret(), "events": ["*"], **fields}
    )


def message() -> WebhookMessage:
    return WebhookMessage(
        type="deployment.failed", timestamp=datetime.now(UTC), data={"deployment_id": 7, "error": "exit 1"}
    )


def test_a_delivery_is_signed_and_verifiable_with_standardwebhooks(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    endpoint, msg = endpoint_for(receiver.url("/in?tenant=1")), message()
    result = deliver(endpoint, msg, client=client, allow_private=True)

    (request,) = receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/in?tenant=1")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == msg.id
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload == {"type": "deployment.failed", "timestamp": payload["timestamp"], "data": msg.data}
    assert payload["timestamp"].endswith("Z")

    assert result.action is Action.SUCCESS
    record = result.record
    assert (record.status_code, record.error, record.response_excerpt) == (200, None, "ok")
    assert (record.message_id, record.endpoint_id, record.attempt, record.outcome) == (
        msg.id,
        "wh_1",
        1,
        "success",
    )
    assert record.duration_ms > 0
    assert record.next_attempt_at is None


def test_retries_keep_the_id_and_refresh_the_timestamp(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    endpoint, msg = endpoint_for(receiver.url()), message()
    first_at = datetime.now(UTC)
    deliver(endpoint, msg, client=client, allow_private=True, now=first_at)
    deliver(endpoint, msg, client=client, allow_private=True, now=first_at + timedelta(seconds=61), attempt=2)
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == msg.id
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 61
    assert first.body == second.body
    for request in (first, second):
        Webhook(endpoint.secret).verify(request.body, request.headers)


def test_a_server_error_is_retried_on_schedule(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(500, body=b"boom"))
    now = datetime.now(UTC)
    result = deliver(
        endpoint_for(receiver.url()), message(), client=client, allow_private=True, now=now, attempt=2
    )
    assert result.action is Action.RETRY
    assert result.record.status_code == 500
    assert result.record.error == "HTTP 500"
    assert result.record.response_excerpt == "boom"
    assert result.decision.failing_since == now
    assert result.record.next_attempt_at is not None
    assert timedelta(minutes=4.5) <= result.record.next_attempt_at - now <= timedelta(minutes=5.5)


@pytest.mark.parametrize("retry_after", ["3600", "date"])
def test_retry_after_is_respected(receiver: WebhookReceiver, client: httpx.Client, retry_after: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    value = format_datetime(now + timedelta(hours=1), usegmt=True) if retry_after == "date" else retry_after
    receiver.reply_with(Reply(429, {"Retry-After": value}, b"slow down"))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True, now=now)
    assert result.action is Action.RETRY
    assert result.record.status_code == 429
    assert result.decision.retry_at == now + timedelta(hours=1)


def test_410_disables_the_endpoint(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(410, body=b"gone"))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True)
    assert result.action is Action.DISABLE
    assert result.record.outcome == "disable"
    assert result.record.next_attempt_at is None


def test_five_days_of_failures_disable_the_endpoint(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(503))
    now = datetime.now(UTC)
    endpoint = endpoint_for(receiver.url(), failing_since=now - timedelta(days=5, minutes=1))
    result = deliver(endpoint, message(), client=client, allow_private=True, now=now)
    assert result.action is Action.DISABLE
    assert "5 days" in result.decision.reason


def test_a_success_clears_the_failure_clock(receiver: WebhookReceiver, client: httpx.Client) -> None:
    endpoint = endpoint_for(receiver.url(), failing_since=datetime.now(UTC) - timedelta(days=4))
    result = deliver(endpoint, message(), client=client, allow_private=True)
    assert result.action is Action.SUCCESS
    assert result.decision.failing_since is None


def test_the_last_attempt_gives_up(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(500))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True, attempt=8)
    assert result.action is Action.GIVE_UP


def test_redirects_are_not_followed(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(302, {"Location": receiver.url("/elsewhere")}, b""))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True)
    assert [request.path for request in receiver.requests] == ["/hook"]
    assert result.action is Action.RETRY
    assert result.record.status_code == 302
    assert "redirects are not followed" in (result.record.error or "")


def test_timeouts_are_recorded_as_failures(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(200, delay_seconds=2))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True, timeout=0.2)
    assert result.action is Action.RETRY
    assert result.record.status_code is None
    assert result.record.error == "timed out after 0.2 s"
    assert result.record.duration_ms < 2000


def test_connection_errors_are_recorded_as_failures(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = deliver(
        endpoint_for(f"http://127.0.0.1:{closed_port}/h"), message(), client=client, allow_private=True
    )
    assert result.action is Action.RETRY
    assert result.record.status_code is None
    assert (result.record.error or "").startswith("ConnectError")


def test_the_response_excerpt_is_bounded(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(500, body=b"x" * 100_000))
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True)
    assert result.record.response_excerpt == "x" * RESPONSE_EXCERPT_BYTES


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_targets_are_refused_unless_allowed(
    receiver: WebhookReceiver, client: httpx.Client, host: str
) -> None:
    result = deliver(endpoint_for(receiver.url(host=host)), message(), client=client)
    assert receiver.requests == []
    assert result.action is Action.RETRY  # the target may be fixed (DNS) before the schedule runs out
    assert result.record.status_code is None
    assert (result.record.error or "").startswith("target refused")
    assert "loopback" in (result.record.error or "")


def test_the_resolved_address_is_pinned(receiver: WebhookReceiver, client: httpx.Client) -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return ["127.0.0.1"]

    # .invalid never resolves, so the request can only arrive if it went to the pinned address.
    url = f"http://hooks.invalid:{receiver.port}/pinned"
    result = deliver(endpoint_for(url), message(), client=client, allow_private=True, resolver=resolver)
    assert result.action is Action.SUCCESS
    assert calls == ["hooks.invalid"]
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.invalid:{receiver.port}"


def test_ipv6_loopback_delivery_when_allowed(client: httpx.Client) -> None:
    with WebhookReceiver(host="::1") as receiver6:
        result = deliver(endpoint_for(receiver6.url()), message(), client=client, allow_private=True)
        assert result.action is Action.SUCCESS
        assert receiver6.requests[0].headers["host"] == f"[::1]:{receiver6.port}"


def test_https_pins_the_address_but_verifies_the_name() -> None:
    certificates = issue_certificates("hooks.test")

    def resolver(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    with (
        WebhookReceiver(tls=certificates.server_context()) as receiver,
        httpx.Client(verify=certificates.client_context(), trust_env=False) as client,
    ):
        good = endpoint_for(f"https://hooks.test:{receiver.port}/tls")
        ok = deliver(good, message(), client=client, allow_private=True, resolver=resolver)
        assert ok.action is Action.SUCCESS, ok.record.error
        assert receiver.requests[0].headers["host"] == f"hooks.test:{receiver.port}"
        Webhook(good.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)

        # Same address, a name the certificate does not cover: refused, even right after a good
        # connection to that address (TLS connections are never reused across names).
        other = endpoint_for(f"https://other.test:{receiver.port}/tls")
        refused = deliver(other, message(), client=client, allow_private=True, resolver=resolver)
        assert refused.action is Action.RETRY
        assert "CERTIFICATE_VERIFY_FAILED" in (refused.record.error or "")
        assert len(receiver.requests) == 1


def test_a_disabled_endpoint_is_not_called(receiver: WebhookReceiver, client: httpx.Client) -> None:
    result = deliver(
        endpoint_for(receiver.url(), enabled=False), message(), client=client, allow_private=True
    )
    assert receiver.requests == []
    assert result.action is Action.GIVE_UP
    assert result.record.error == "endpoint is disabled; nothing sent"


def test_jitter_uses_the_injected_rng(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.reply_with(Reply(500), Reply(500))
    now = datetime.now(UTC)
    endpoint, msg = endpoint_for(receiver.url()), message()
    first = deliver(
        endpoint, msg, client=client, allow_private=True, now=now, rng=random.Random(1), attempt=3
    )
    second = deliver(
        endpoint, msg, client=client, allow_private=True, now=now, rng=random.Random(1), attempt=3
    )
    assert first.decision.retry_at == second.decision.retry_at


def test_the_record_is_ready_for_the_api(receiver: WebhookReceiver, client: httpx.Client) -> None:
    result = deliver(endpoint_for(receiver.url()), message(), client=client, allow_private=True)
    dumped = json.loads(result.record.model_dump_json())
    assert set(dumped) == {
        "message_id",
        "endpoint_id",
        "event_type",
        "attempt",
        "attempted_at",
        "url",
        "status_code",
        "duration_ms",
        "error",
        "response_excerpt",
        "outcome",
        "next_attempt_at",
    }
    assert dumped["attempted_at"].endswith("Z")
