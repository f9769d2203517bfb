import pytest

from chalicelib.webhooks import inbound


def test_secrets_equal() -> None:
    assert inbound.secrets_equal("whsec_abc", "whsec_abc")
    assert not inbound.secrets_equal("whsec_abc", "whsec_abd")
    assert not inbound.secrets_equal("whsec_abc", "whsec_ab")
    assert not inbound.secrets_equal("whsec_abc", "")
    assert not inbound.secrets_equal("whsec_abc", None)
    assert not inbound.secrets_equal("", "")  # an unset secret never authenticates


def test_replay_key_is_stable_and_bounded() -> None:
    key = inbound.replay_key("github", "prj_1", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert key == inbound.replay_key("github", "prj_1", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert key.startswith("hookreplay:github:")
    assert len(inbound.replay_key("github", "prj_1", "x" * 10_000)) == len(key)


def test_replay_keys_differ_by_source_scope_and_delivery() -> None:
    keys = {
        inbound.replay_key("github", "prj_1", "d1"),
        inbound.replay_key("github", "prj_1", "d2"),
        inbound.replay_key("github", "prj_2", "d1"),
        inbound.replay_key("trigger", "prj_1", "d1"),
        # separators inside values cannot make two different triples collide
        inbound.replay_key("github", "a:b", "c"),
        inbound.replay_key("github", "a", "b:c"),
    }
    assert len(keys) == 6


@pytest.mark.parametrize(
    ("source", "scope", "delivery_id"),
    [("", "s", "d"), ("github", "", "d"), ("github", "s", ""), ("github", "s", "   "), ("git:hub", "s", "d")],
)
def test_replay_key_refuses_empty_parts(source: str, scope: str, delivery_id: str) -> None:
    with pytest.raises(ValueError):
        inbound.replay_key(source, scope, delivery_id)
