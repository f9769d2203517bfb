"""`make test`'s grouping of the suite over xdist workers."""

from __future__ import annotations

from tests.support.xdist_groups import StackGroupScheduling


def test_integration_and_docker_tests_each_stay_on_one_worker() -> None:
    scheduler = StackGroupScheduling.__new__(StackGroupScheduling)
    split = scheduler._split_scope
    assert split("tests/integration/test_a.py::t") == split("tests/integration/test_b.py::u") == "local-stack"
    assert split("tests/docker/test_a.py::t") == split("tests/docker/sub/test_b.py::u") == "docker-engine"
    assert split("tests/unit/test_a.py::t") == "tests/unit/test_a.py::t"
    assert split("tests/unit/test_a.py::t") != split("tests/unit/test_a.py::u")
