"""Subscribing: missed events from the log first (`since`), then live, with no gap and no duplicate.

1. The subscription is written `replaying` with its cursor at `since` (without `since`: at the
   tenant's current sequence). The fan-out never sends to a replaying subscription.
2. Rounds: read the tenant's sequence S (consistent), send the channel's events in (cursor, S] from
   the log in order, cursor = S, then switch to `live` at S in one transaction that also checks the
   tenant's sequence is still S. If an event committed meanwhile the check fails and another round
   sends it; once the switch succeeds every later event reaches the fan-out, which claims it on the
   cursor (> S) before sending. Events in the log and the sequence commit in the same transaction,
   so a consistent read that sees sequence S sees every event up to S.
"""

from __future__ import annotations

import time

from chalicelib.logs import logger
from chalicelib.realtime import connections, messages, sender
from chalicelib.realtime.connections import Connection
from chalicelib.realtime.messages import ProtocolError

MAX_ROUNDS = 50
INDEX_WAIT_SECONDS = 5.0


def subscribe(conn: Connection, channels: list[str], since: int | None) -> None:
    existing = connections.subscriptions(conn.connection_id)
    latest = connections.tenant_seq(conn.tenant)
    if since is not None and since > latest:
        raise ProtocolError("BAD_SINCE", f"since {since} is after the latest event ({latest})")
    if since is None:
        start = latest
        fresh = [c for c in channels if c not in existing]  # a subscribed channel keeps its place
    else:
        start = since
        fresh = channels
    if fresh:
        connections.add_subscriptions(conn, fresh, start)
    everything = sorted(set(conn.channels) | set(channels))
    send(conn, messages.subscribed(everything, start))
    if since is not None and since < latest:
        oldest = connections.oldest_event_seq(conn.tenant, since)
        if oldest is None or oldest > since + 1:
            first = latest + 1 if oldest is None else oldest
            send(
                conn,
                messages.error(
                    "SINCE_EXPIRED",
                    f"events {since + 1} to {first - 1} are no longer kept; replaying from {first}",
                ),
            )
    if fresh:
        catch_up(conn, fresh, start)


def catch_up(conn: Connection, channels: list[str], cursor: int) -> None:
    _wait_for_index(conn, channels)
    for _ in range(MAX_ROUNDS):
        seen = connections.tenant_seq(conn.tenant)
        for event in connections.events_between(conn.tenant, cursor, seen, channels):
            send(conn, messages.event_frame(event))
        cursor = seen
        try:
            if connections.go_live(conn, channels, seen):
                return
        except connections.SubscriptionChanged:
            return  # unsubscribed or disconnected while replaying
    raise ProtocolError("CATCH_UP_FAILED", "events arrive faster than they can be replayed; subscribe again")


def _wait_for_index(conn: Connection, channels: list[str]) -> None:
    """The fan-out finds subscribers through the channel index, which lags the table slightly: go
    live only once the subscription is listed there, or live events could pass it by."""
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    pending = list(channels)
    while pending:
        pending = [c for c in pending if not connections.index_visible(conn.tenant, c, conn.connection_id)]
        if pending and time.monotonic() > deadline:
            logger.warning("subscription not indexed in time", extra={"channels": pending})
            return
        if pending:
            time.sleep(0.05)


def send(conn: Connection, frame: dict) -> None:
    sender.send(conn.endpoint, conn.connection_id, messages.encode(frame))
