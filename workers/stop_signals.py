"""Stop signals for long-running processes (the worker host, the local stack's services).

Python runs signal handlers in the main thread, between any two bytecodes, so a handler that takes
a lock can deadlock: when the main thread is inside `Event.wait()` on the very event the handler
sets, it may hold the event's (non-reentrant) lock at that moment. The handler therefore hands
`set()` to a new low-level thread (`_thread`, which takes none of `threading`'s locks either); that
thread waits, if it must, until the main thread lets go."""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Iterable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def set_on_signals(event: threading.Event, signals: Iterable[int] = STOP_SIGNALS) -> None:
    """Set `event` when one of `signals` arrives (install from the main thread)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _thread.start_new_thread(event.set, ())

    for signum in signals:
        signal.signal(signum, handler)
