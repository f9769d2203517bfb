import json

import pytest

from chalicelib.webhooks import github
from chalicelib.webhooks.errors import SignatureVerificationError, WebhookInputError

# From GitHub's "Validating webhook deliveries" documentation.
DOC_SECRET = "It's a Secret to Everybody"
DOC_PAYLOAD = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def push(**fields: object) -> bytes:
    payload = {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "b" * 40,
        "deleted": False,
        "repository": {"full_name": "octo/app", "id": 1},
        "head_commit": {"id": "b" * 40, "message": "fix"},
        "pusher": {"name": "octo"},
        **fields,
    }
    return json.dumps(payload).encode()


def test_the_documentation_vector() -> None:
    assert github.compute_signature(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE
    github.verify_signature(DOC_SECRET, DOC_PAYLOAD, DOC_SIGNATURE)


@pytest.mark.parametrize(
    ("secret", "body", "header", "problem"),
    [
        (DOC_SECRET, DOC_PAYLOAD, None, "missing"),
        (DOC_SECRET, DOC_PAYLOAD, "", "missing"),
        (DOC_SECRET, DOC_PAYLOAD, DOC_SIGNATURE.removeprefix("sha256="), "must start"),
        (DOC_SECRET, DOC_PAYLOAD, DOC_SIGNATURE.replace("sha256=", "sha1="), "must start"),
        (DOC_SECRET, DOC_PAYLOAD, DOC_SIGNATURE[:-1] + "0", "does not match"),
        (DOC_SECRET, DOC_PAYLOAD, "sha256=zz", "does not match"),
        (DOC_SECRET, b"Hello, World?", DOC_SIGNATURE, "does not match"),
        ("another secret", DOC_PAYLOAD, DOC_SIGNATURE, "does not match"),
        (DOC_SECRET, DOC_PAYLOAD, "sha256=ü", "does not match"),
    ],
)
def test_bad_signatures_are_refused(secret: str, body: bytes, header: str | None, problem: str) -> None:
    with pytest.raises(SignatureVerificationError, match=problem):
        github.verify_signature(secret, body, header)


def test_an_empty_secret_never_verifies() -> None:
    with pytest.raises(ValueError):
        github.verify_signature("", DOC_PAYLOAD, DOC_SIGNATURE)


def test_parse_push_to_a_branch() -> None:
    event = github.parse_push(push())
    assert event == github.PushEvent(
        ref="refs/heads/main",
        branch="main",
        tag=None,
        before="a" * 40,
        after="b" * 40,
        deleted=False,
        repository="octo/app",
        head_commit="b" * 40,
    )


def test_parse_push_of_a_tag_and_of_a_nested_branch_name() -> None:
    tag = github.parse_push(push(ref="refs/tags/v1.2.0"))
    assert (tag.branch, tag.tag) == (None, "v1.2.0")
    nested = github.parse_push(push(ref="refs/heads/feature/login"))
    assert nested.branch == "feature/login"


def test_parse_push_tolerates_missing_optional_parts() -> None:
    event = github.parse_push(json.dumps({"ref": "refs/heads/dev", "head_commit": None}).encode())
    assert (event.branch, event.repository, event.head_commit, event.deleted) == ("dev", None, None, False)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"zen": "Keep it logically awesome."}', b'{"ref": 5}', b"\xff\xfe"],
)
def test_parse_push_refuses_other_payloads(body: bytes) -> None:
    with pytest.raises(WebhookInputError, match="not a GitHub push payload") as info:
        github.parse_push(body)
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),
        ({"ref": "refs/heads/dev"}, False),
        ({"ref": "refs/tags/main"}, False),
        ({"deleted": True, "after": "0" * 40}, False),
        ({"ref": "refs/heads/main-old"}, False),
    ],
)
def test_should_redeploy_only_on_pushes_to_the_configured_branch(fields: dict, expected: bool) -> None:
    assert github.should_redeploy(github.parse_push(push(**fields)), "main") is expected


def test_branch_from_ref() -> None:
    assert github.branch_from_ref("refs/heads/main") == "main"
    assert github.branch_from_ref("refs/heads/") is None
    assert github.branch_from_ref("refs/pull/1/merge") is None
