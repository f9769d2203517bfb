"""The worked examples of docs/scores.md, and that each factor moves its score."""

from __future__ import annotations

import dataclasses

import pytest

from workers.scan.scores import ScoreInputs, compute, eco, health, vibe

PYTHON_WEB_APP = ScoreInputs(
    errors=0, code_lines=14, test_lines=3, coverage=78.5, readme=True, comment_lines=3, all_code_lines=17,
    source_files=5, lint_config=True, dependencies=3, pinned=2, lockfile=False,
)  # fmt: skip
BROKEN_PROJECT = ScoreInputs(errors=7, code_lines=6, comment_lines=2, all_code_lines=6, source_files=4)
SERVICE = ScoreInputs(
    errors=1, code_lines=20_000, test_lines=4_000, coverage=64.0, readme=True, comment_lines=1_500,
    all_code_lines=24_000, source_files=60, lint_config=False, dependencies=45, pinned=30, lockfile=True,
)  # fmt: skip


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [(PYTHON_WEB_APP, (80, 93, 57)), (BROKEN_PROJECT, (0, 50, 100)), (SERVICE, (66, 56, 83))],
    ids=["python-web-app", "broken-project", "mid-sized-service"],
)
def test_worked_examples_of_the_docs(inputs: ScoreInputs, expected: tuple[int, int, int]) -> None:
    scores = compute(inputs)
    assert (scores.health_score, scores.vibe_score, scores.eco_score) == expected


def test_the_docs_state_the_pinned_results() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "scores.md").read_text()
    for figure in ("-> **80**", "-> **93**", "-> **57**", "-> **66**", "-> **56**", "-> **83**"):
        assert figure in text


@pytest.mark.parametrize(
    ("change", "score", "direction"),
    [
        ({"errors": 2}, health, -1),
        ({"test_lines": 7}, health, +1),
        ({"coverage": 95.0}, health, +1),
        ({"readme": False}, vibe, -1),
        ({"comment_lines": 0}, vibe, -1),
        ({"source_files": 1, "all_code_lines": 900}, vibe, -1),
        ({"lint_config": False}, vibe, -1),
        ({"pinned": 3}, eco, +1),
        ({"lockfile": True}, eco, +1),
        ({"dependencies": 100, "pinned": 66}, eco, -1),
    ],
)
def test_every_input_moves_its_score(change: dict, score: object, direction: int) -> None:
    before = score(PYTHON_WEB_APP)  # type: ignore[operator]
    after = score(dataclasses.replace(PYTHON_WEB_APP, **change))  # type: ignore[operator]
    assert (after - before) * direction > 0


def test_scores_stay_within_0_and_100() -> None:
    worst = ScoreInputs(errors=50, code_lines=10**6, source_files=1, all_code_lines=10**6, dependencies=500)
    best = ScoreInputs(
        code_lines=100, test_lines=10**4, coverage=100.0, readme=True, comment_lines=50, all_code_lines=100,
        source_files=2, lint_config=True, dependencies=5, pinned=5,
    )  # fmt: skip
    assert compute(worst) == compute(worst).__class__(0, 0, 0)
    assert compute(best) == compute(best).__class__(100, 100, 100)
