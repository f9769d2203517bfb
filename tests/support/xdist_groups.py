"""One xdist worker for every integration test, so the session's `local_stack` starts once.

pytest-xdist's own `--dist loadgroup` groups tests by the `xdist_group` mark through a nodeid
suffix that pytest 9 no longer lets it set; this scheduler decides the groups from the nodeid
instead: everything under tests/integration/ is one group, every other test is its own."""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling

INTEGRATION_PREFIX = "tests/integration/"
GROUP = "local-stack"


class StackGroupScheduling(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(INTEGRATION_PREFIX):
            return GROUP
        return super()._split_scope(nodeid)
