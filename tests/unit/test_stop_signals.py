"""Stop signals set the process's stop event without taking its lock in the signal handler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from workers.stop_signals import set_on_signals

ROOT = Path(__file__).resolve().parents[2]


def test_a_signal_sets_the_event_the_main_thread_waits_on() -> None:
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGUSR1)
    set_on_signals(stop, (signal.SIGUSR1,))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.wait(5)
    finally:
        signal.signal(signal.SIGUSR1, previous)


# The main thread waits on the event over and over while signals pour in: every one of them must
# be seen, with the handler never blocking on the lock that Event.wait holds.
PROBE = r"""
import os, signal, sys, threading
from workers.stop_signals import set_on_signals
stop = threading.Event()
set_on_signals(stop, (signal.SIGUSR1,))
print(os.getpid(), flush=True)
seen = 0
while seen < 300:
    if stop.wait(0.01):
        stop.clear()
        seen += 1
signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the sender is still sending as this one ends
print("done", flush=True)
"""


def test_signals_pouring_in_while_the_main_thread_waits_never_wedge_it() -> None:
    probe = subprocess.Popen([sys.executable, "-c", PROBE], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert probe.stdout is not None
    pid = int(probe.stdout.readline())
    deadline = time.monotonic() + 30
    try:
        while probe.poll() is None and time.monotonic() < deadline:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(0.001)  # the pace of the signals, not a wait for an event
    except ProcessLookupError:
        pass
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.wait(5) == 0 and probe.stdout.read().strip() == "done"
