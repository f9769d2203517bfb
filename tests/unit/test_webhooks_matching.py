import pytest

from chalicelib.webhooks import matching
from chalicelib.webhooks.errors import InvalidEventNameError


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ("project.created", "project.created", True),
        ("project.created", "project.deleted", False),
        ("project.created", "project.created.extra", False),
        ("deployment.*", "deployment.failed", True),
        ("deployment.*", "deployment.step.failed", True),
        ("deployment.*", "deployment", False),
        ("deployment.*", "deployments.failed", False),
        ("*.failed", "deployment.failed", True),
        ("*.failed", "deployment.succeeded", False),
        ("*.failed", "deployment.step.failed", False),
        ("error.*.seen", "error.critical.seen", True),
        ("*", "error.critical", True),
        ("*", "ping", True),
        ("Project.created", "project.created", False),
    ],
)
def test_matches(pattern: str, event: str, expected: bool) -> None:
    assert matching.matches(pattern, event) is expected


def test_matches_any() -> None:
    patterns = ["project.created", "deployment.*"]
    assert matching.matches_any(patterns, "deployment.failed")
    assert not matching.matches_any(patterns, "error.critical")
    assert not matching.matches_any([], "error.critical")


@pytest.mark.parametrize("name", ["project.created", "error.critical", "ping", "a_b.c9", "x." * 7 + "y"])
def test_valid_event_names(name: str) -> None:
    assert matching.validate_event_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".created",
        "project.",
        "project..created",
        "project.*",
        "project-created",
        "pro ject",
        "é.x",
        "a." * 8 + "b",
        "x" * 129,
    ],
)
def test_invalid_event_names(name: str) -> None:
    with pytest.raises(InvalidEventNameError):
        matching.validate_event_name(name)


@pytest.mark.parametrize("pattern", ["*", "deployment.*", "*.failed", "error.*.seen", "project.created"])
def test_valid_patterns(pattern: str) -> None:
    assert matching.validate_pattern(pattern) == pattern


@pytest.mark.parametrize("pattern", ["deploy*", "**", "deployment.**", "*.", ".*", "a b", ""])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(InvalidEventNameError):
        matching.validate_pattern(pattern)


def test_validate_patterns_drops_duplicates_in_order() -> None:
    assert matching.validate_patterns(["b.x", "a.*", "b.x"]) == ["b.x", "a.*"]


def test_validate_patterns_requires_one_and_bounds_the_list() -> None:
    with pytest.raises(InvalidEventNameError, match="at least one"):
        matching.validate_patterns([])
    with pytest.raises(InvalidEventNameError, match="at most"):
        matching.validate_patterns([f"e.n{i}" for i in range(matching.MAX_PATTERNS + 1)])


def test_non_string_names_are_refused() -> None:
    with pytest.raises(InvalidEventNameError):
        matching.validate_event_name(42)  # type: ignore[arg-type]
