"""How `make test` splits the suite over two xdist workers (`-n 2 --dist loadgroup`).

Tests that share something outside the process run on one worker, one after another:
- tests/integration/: the session's `local_stack` (started once, not once per worker);
- tests/docker/: the one Docker engine (deployment ids and host names are per test database, so
  two workers would manage each other's containers).
Every other test is its own unit and goes wherever a worker is free.

pytest-xdist's own `loadgroup` reads `xdist_group` marks through a nodeid suffix that pytest 9 no
longer lets it set; this scheduler decides the groups from the nodeid instead."""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling

GROUPS = {"tests/integration/": "local-stack", "tests/docker/": "docker-engine"}


class StackGroupScheduling(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
        for prefix, group in GROUPS.items():
            if nodeid.startswith(prefix):
                return group
        return super()._split_scope(nodeid)
