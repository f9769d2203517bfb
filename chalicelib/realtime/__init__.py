"""Realtime: WebSocket connections and their channel subscriptions (stored in the table), the
messages clients send, catch-up from the event log (`since`) and the stream-driven fan-out.

See docs/realtime.md for the protocol and for why a subscription can neither miss nor repeat an event.
"""
