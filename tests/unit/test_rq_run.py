"""The in-process RQ worker the unit tests use gives the test process its signals back."""

from __future__ import annotations

import signal

from tests.support.rq_run import work


def test_work_leaves_the_processs_signal_handlers_as_they_were(redis_queue: str) -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    work(redis_queue, ["default"])
    assert {number: signal.getsignal(number) for number in before} == before
