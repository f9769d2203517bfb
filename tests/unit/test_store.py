"""The store's guarantees: events commit with their change in tenant order, ids never collide between
racing writers, and a change that fails half way leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import NotFound
from chalicelib.store import keys
from chalicelib.store.table import Store, Tx, get_store


def _events(tenant: str) -> list[dict[str, Any]]:
    return get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix="EVENT#", limit=500).items


def _create(store: Store, tenant: str, name: str) -> int:
    def build(tx: Tx) -> int:
        ident = tx.new_id("thing")
        tx.put({"PK": tx.pk, "SK": keys.entity_sk("THING", ident), "name": name}, create_only=True)
        tx.count("THING")
        tx.emit(type="thing_created", channel="projects", name="thing.created", data={"id": ident})
        return ident

    return store.commit(tenant, build)


def test_events_get_consecutive_sequence_numbers_per_tenant(aws: None) -> None:
    store = get_store()
    for name in "abc":
        _create(store, "alice", name)
    _create(store, "bob", "x")
    assert [e["seq"] for e in _events("alice")] == [1, 2, 3]
    assert [e["data"]["id"] for e in _events("alice")] == [1, 2, 3]
    assert [e["seq"] for e in _events("bob")] == [1]
    event = _events("alice")[0]
    assert event["type"] == "thing_created" and event["name"] == "thing.created"
    assert event["timestamp"].endswith("Z") and event["expires_at"] > 0


def test_writers_with_stale_meta_never_reuse_ids_or_sequence_numbers(aws: None) -> None:
    """Separate Store objects stand for separate Lambda instances, each with its own cached meta."""
    writers = [Store() for _ in range(4)]
    for writer in writers:
        _create(writer, "alice", "warm-up")  # every writer now holds a soon-stale meta

    # Round robin: each writer's cached meta is three changes behind when its turn comes, so every
    # commit first fails its meta condition and rebuilds on the item DynamoDB hands back. (In-process
    # moto does not serialise transactions across threads, so real threads would test moto, not us.)
    ids = [_create(writers[i % 4], "alice", f"t{i}") for i in range(40)]
    assert len(set(ids)) == 40
    seqs = [e["seq"] for e in _events("alice")]
    assert seqs == list(range(1, 45))
    header = get_store().get(keys.tenant_pk("alice"), keys.header_sk("THING"))
    assert header is not None and header["count"] == 44


class _CountingClient:
    """A DynamoDB client that counts the transactions it sends."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.transactions = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_read_with_the_tenants_meta_spares_the_next_commit_a_stale_round(aws: None) -> None:
    from chalicelib import aws as aws_clients

    client = _CountingClient(aws_clients.client("dynamodb"))
    mine, other = Store(dynamodb=client), Store()
    first = _create(mine, "alice", "a")
    _create(other, "alice", "b")  # another process: the meta `mine` holds is stale now
    wanted = [(keys.tenant_pk("alice"), keys.entity_sk("THING", first))]

    client.transactions = 0
    assert [item["name"] for item in mine.batch_get(wanted)] == ["a"]
    _create(mine, "alice", "c")
    assert client.transactions == 2  # failed on the stale meta, rebuilt on the current one

    _create(other, "alice", "d")
    client.transactions = 0
    assert [item["name"] for item in mine.batch_get(wanted, meta_of="alice")] == ["a"]
    assert _create(mine, "alice", "e") == 5
    assert client.transactions == 1
    assert [e["seq"] for e in _events("alice")] == [1, 2, 3, 4, 5]


def test_a_failed_condition_commits_nothing(aws: None) -> None:
    store = get_store()
    _create(store, "alice", "a")

    def build(tx: Tx) -> None:
        ident = tx.new_id("thing")
        tx.put({"PK": tx.pk, "SK": keys.entity_sk("THING", ident), "name": "b"}, create_only=True)
        tx.count("THING")
        tx.emit(type="thing_created", channel="projects", name="thing.created", data={"id": ident})
        tx.update(tx.pk, keys.entity_sk("THING", 99), add={"n": 1}, on_fail=NotFound("thing 99"))

    with pytest.raises(NotFound):
        store.commit("alice", build)
    assert store.get(keys.tenant_pk("alice"), keys.entity_sk("THING", 2)) is None
    assert [e["seq"] for e in _events("alice")] == [1]
    assert store.get(keys.tenant_pk("alice"), keys.header_sk("THING"))["count"] == 1  # type: ignore[index]
    assert _create(store, "alice", "c") == 2  # the id the failed change took was never spent


def test_project_changes_are_announced_in_the_same_transaction(aws: None) -> None:
    from chalicelib import projects
    from chalicelib.models.projects import ProjectCreate, ProjectUpdate

    project = projects.create_project("alice", ProjectCreate(name="p", path="/p"))
    projects.update_project("alice", project.id, ProjectUpdate(name="q"))
    projects.delete_project("alice", project.id)
    events = _events("alice")
    assert [e["type"] for e in events] == ["project_created", "project_updated", "project_deleted"]
    assert [e["channel"] for e in events] == ["projects"] * 3
    assert events[0]["data"]["name"] == "p" and events[1]["data"]["name"] == "q"
    assert events[2]["data"] == {"id": project.id, "name": "q"}


def test_error_events_are_named_by_severity(aws: None) -> None:
    from chalicelib import errorlog, projects
    from chalicelib.models.errors import ErrorCreate
    from chalicelib.models.projects import ProjectCreate

    projects.create_project("alice", ProjectCreate(name="p", path="/p"))
    errorlog.log_error(
        "alice",
        ErrorCreate(project_id=1, error_type="runtime", severity="critical", message="System failure"),
    )
    event = _events("alice")[-1]
    assert event["type"] == "error_logged" and event["name"] == "error.critical"
    assert event["data"]["severity"] == "critical" and event["data"]["project_id"] == 1


def test_cursor_cannot_leave_the_tenant(aws: None) -> None:
    from chalicelib.store.table import encode_cursor

    store = get_store()
    _create(store, "alice", "a")
    _create(store, "bob", "b")
    # A cursor only carries a sort key; the partition is always the caller's.
    cursor = encode_cursor({"SK": keys.entity_sk("THING", 0)})
    page = store.query_page(pk=keys.tenant_pk("bob"), sk_prefix="THING#0", limit=10, cursor=cursor)
    assert [item["name"] for item in page.items] == ["b"]
