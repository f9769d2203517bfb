import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chalicelib.webhooks import signing
from chalicelib.webhooks.errors import InvalidSecretError, SignatureVerificationError

BODY = b'{"type":"project.created","timestamp":"2024-01-15T10:30:00Z","data":{"id":1,"name":"caf\xc3\xa9"}}'


def test_generated_secrets_are_whsec_32_random_bytes() -> None:
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and second.startswith("whsec_")
    assert len(signing.secret_key(first)) == 32
    assert first != second


@pytest.mark.parametrize(
    "body",
    [BODY, b"", b"{}", "ünïcødé ✓".encode(), b"a.b.c with dots"],
)
def test_our_signature_equals_the_reference_library(body: bytes) -> None:
    secret = signing.generate_secret()
    when = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    ours = signing.sign(secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int(when.timestamp()), body)
    theirs = Webhook(secret).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when, body.decode())
    assert ours == theirs


def test_reference_library_verifies_our_headers() -> None:
    secret = signing.generate_secret()
    headers = signing.signature_headers(secret, signing.new_message_id(), int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["data"]["name"] == "café"


def test_reference_library_rejects_our_headers_for_a_tampered_body() -> None:
    secret = signing.generate_secret()
    headers = signing.signature_headers(secret, "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1", b"2"), headers)


def test_we_verify_the_reference_librarys_signature() -> None:
    secret = signing.generate_secret()
    now = datetime.now(UTC)
    header = Webhook(secret).sign("msg_abc", now, BODY.decode())
    headers = {
        "Webhook-Id": "msg_abc",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": header,
    }
    assert signing.verify(secret, headers, BODY) == "msg_abc"


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.signature_headers([new, old], "msg_rot", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        signing.verify(secret, headers, BODY)
    with pytest.raises(SignatureVerificationError):
        signing.verify(signing.generate_secret(), headers, BODY)


def test_verify_skips_other_schemes_and_malformed_entries() -> None:
    secret = signing.generate_secret()
    good = signing.sign(secret, "msg_1", 1_700_000_000, BODY)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1a,AAAA v1,not-base64!! garbage {good}",
    }
    assert signing.verify(secret, headers, BODY, now=1_700_000_000) == "msg_1"


@pytest.fixture
def signed() -> tuple[str, dict[str, str]]:
    secret = signing.generate_secret()
    return secret, signing.signature_headers(secret, "msg_1", 1_700_000_000, BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_requires_every_header(signed: tuple[str, dict[str, str]], missing: str) -> None:
    secret, headers = signed
    del headers[missing]
    with pytest.raises(SignatureVerificationError, match="missing"):
        signing.verify(secret, headers, BODY, now=1_700_000_000)


@pytest.mark.parametrize("offset", [-301, 301])
def test_verify_refuses_timestamps_outside_the_tolerance(
    signed: tuple[str, dict[str, str]], offset: int
) -> None:
    secret, headers = signed
    with pytest.raises(SignatureVerificationError, match="tolerance"):
        signing.verify(secret, headers, BODY, now=1_700_000_000 + offset)
    assert signing.verify(secret, headers, BODY, now=1_700_000_000 + offset, tolerance_seconds=400) == "msg_1"


def test_verify_refuses_a_non_integer_timestamp(signed: tuple[str, dict[str, str]]) -> None:
    secret, headers = signed
    headers["webhook-timestamp"] = "1700000000.5"
    with pytest.raises(SignatureVerificationError, match="integer"):
        signing.verify(secret, headers, BODY, now=1_700_000_000)


@pytest.mark.parametrize("change", ["body", "id", "timestamp", "secret"])
def test_verify_detects_any_change(signed: tuple[str, dict[str, str]], change: str) -> None:
    secret, headers = signed
    body = BODY
    if change == "body":
        body = BODY + b" "
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = "1700000001"
    else:
        secret = signing.generate_secret()
    with pytest.raises(SignatureVerificationError, match="no matching signature"):
        signing.verify(secret, headers, body, now=1_700_000_000)


@pytest.mark.parametrize(
    ("msg_id", "timestamp"),
    [("msg.1", 1), ("", 1), ("msg 1", 1), ("msg_1", -1), ("msg_1", True), ("msg_1", 1.5)],
)
def test_sign_refuses_bad_ids_and_timestamps(msg_id: str, timestamp: int) -> None:
    with pytest.raises(ValueError):
        signing.sign(signing.generate_secret(), msg_id, timestamp, BODY)


@pytest.mark.parametrize(
    "secret",
    [
        "no-prefix-but-long-enough-1234",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 15).decode(),
        "whsec_" + base64.b64encode(b"x" * 129).decode(),
        "whsec_",
    ],
)
def test_bad_whsec_secrets_are_refused(secret: str) -> None:
    with pytest.raises(InvalidSecretError):
        signing.secret_key(secret)


def test_unpadded_whsec_secret_is_accepted_like_the_reference_library() -> None:
    padded = signing.generate_secret()
    unpadded = padded.rstrip("=")
    assert signing.secret_key(unpadded) == signing.secret_key(padded)


def test_a_plain_passphrase_becomes_a_whsec_secret_with_the_same_key() -> None:
    passphrase = "your-webhook-secret"
    normalized = signing.normalize_secret(passphrase)
    assert normalized.startswith("whsec_")
    assert signing.secret_key(normalized) == passphrase.encode()
    headers = signing.signature_headers(normalized, "msg_1", int(time.time()), BODY)
    Webhook(passphrase.encode()).verify(BODY, headers)  # receivers may use the raw passphrase too


def test_normalize_keeps_a_valid_whsec_secret_unchanged() -> None:
    secret = signing.generate_secret()
    assert signing.normalize_secret(secret) == secret


@pytest.mark.parametrize(
    "value", ["short", " padded-passphrase-long ", "tab\there-is-long-enough", "x" * 129]
)
def test_normalize_refuses_weak_or_odd_passphrases(value: str) -> None:
    with pytest.raises(InvalidSecretError):
        signing.normalize_secret(value)


def test_message_ids_are_unique_and_signable() -> None:
    ids = {signing.new_message_id() for _ in range(100)}
    assert len(ids) == 100
    for msg_id in ids:
        assert msg_id.startswith("msg_")
        signing.sign(signing.generate_secret(), msg_id, 0, b"")
