"""Stream-driven fan-out: new EVENT items go to every live subscription of their tenant and channel.

Connections are served in parallel; one connection's events go out in seq order. Each send is
preceded by a conditional claim on the subscription's cursor, so a batch the stream retries (a
post failed) sends nothing twice, and a connection that is gone is forgotten. Events of the channel
between the cursor and the batch that the batch does not hold (stream shards may hand batches over
out of order) are read from the log first, so a connection never skips one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.config import get_settings
from chalicelib.logs import logger
from chalicelib.realtime import connections, messages, sender
from chalicelib.realtime.connections import Subscriber


class FanOutIncomplete(Exception):
    """Some posts failed for a reason other than a gone connection; the batch must be retried."""


def group(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[(event["tenant"], event["channel"])].append(event)
    for batch in grouped.values():
        batch.sort(key=lambda e: int(e["seq"]))
    return grouped


def fan_out(events: list[dict[str, Any]]) -> int:
    """Deliver the events; returns the number of frames sent. Raises FanOutIncomplete after trying
    every connection when some could not be reached."""
    work: list[tuple[Subscriber, str, list[dict[str, Any]]]] = []
    for (tenant, channel), batch in group(events).items():
        work.extend((subscriber, channel, batch) for subscriber in connections.subscribers(tenant, channel))
    if not work:
        return 0
    workers = max(1, min(get_settings().fanout_workers, len(work)))
    missing = _MissingEvents()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout") as pool:
        outcomes = list(pool.map(lambda job: _deliver(*job, missing=missing), work))
    failures = [o for o in outcomes if isinstance(o, Exception)]
    if failures:
        raise FanOutIncomplete(f"{len(failures)} of {len(work)} connections failed: {failures[0]!r}")
    return sum(o for o in outcomes if isinstance(o, int))


class _MissingEvents:
    """Log reads for the events before a batch, shared by the connections of one fan-out: most
    subscribers of a channel sit at the same cursor, so each distinct gap is read once."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, int, int], list[dict[str, Any]]] = {}

    def between(self, tenant: str, channel: str, after: int, before: int) -> list[dict[str, Any]]:
        key = (tenant, channel, after, before)
        if key not in self._found:  # a concurrent duplicate read is harmless
            self._found[key] = connections.events_between(tenant, after, before - 1, [channel])
        return self._found[key]


def _deliver(
    subscriber: Subscriber, channel: str, batch: list[dict[str, Any]], *, missing: _MissingEvents
) -> int | Exception:
    upto = int(batch[-1]["seq"])
    previous = connections.claim(subscriber.connection_id, channel, upto)
    if previous is None:
        return 0  # replaying (the replay sends these), already delivered, or unsubscribed
    delivered, sent = previous, 0
    first = int(batch[0]["seq"])
    try:
        earlier = (
            missing.between(batch[0]["tenant"], channel, previous, first) if previous < first - 1 else []
        )
        for event in [*earlier, *batch]:
            if int(event["seq"]) > previous:
                frame = messages.encode(messages.event_frame(event))
                sender.send(subscriber.endpoint, subscriber.connection_id, frame)
                delivered, sent = int(event["seq"]), sent + 1
    except sender.ConnectionGone:
        connections.forget(subscriber.connection_id)
        logger.info("gone connection removed", extra={"connection_id": subscriber.connection_id})
        return sent
    except Exception as exc:
        connections.release(subscriber.connection_id, channel, upto, delivered)
        logger.warning(
            "fan-out post failed", extra={"connection_id": subscriber.connection_id, "error": repr(exc)}
        )
        return exc
    return sent
