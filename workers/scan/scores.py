"""The three scores (docs/scores.md has the formulas, the reasons and worked examples that
tests/unit/test_scan_scores.py pins). Each is 0-100 and a weighted sum of factors in 0-1."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreInputs:
    errors: int = 0  # findings of the scan (syntax, manifest, dockerfile)
    code_lines: int = 0  # code lines of programming languages, tests excluded
    test_lines: int = 0  # code lines in test files
    coverage: float | None = None  # percent, when a report was found
    readme: bool = False
    comment_lines: int = 0  # comment lines of programming languages, tests included
    all_code_lines: int = 0  # code lines of programming languages, tests included
    source_files: int = 0  # files of programming languages, tests included
    lint_config: bool = False
    dependencies: int = 0
    pinned: int = 0
    lockfile: bool = False


@dataclass(frozen=True)
class Scores:
    health_score: int
    vibe_score: int
    eco_score: int


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _points(weighted: float) -> int:
    """A weighted sum in 0-1 as 0-100 points, halves rounded up (92.5 -> 93)."""
    return math.floor(100 * weighted + 0.5 + 1e-9)


def health(i: ScoreInputs) -> int:
    """Does it work and is it checked: 50% no errors, 25% tests, 25% coverage."""
    no_errors = _clamp(1 - i.errors / 5)
    tests = _clamp(i.test_lines / (0.5 * i.code_lines)) if i.code_lines else 0.0
    covered = _clamp(i.coverage / 100) if i.coverage is not None else 0.0
    return _points(0.5 * no_errors + 0.25 * tests + 0.25 * covered)


def vibe(i: ScoreInputs) -> int:
    """Is it pleasant to work in: 30% README, 30% comments, 20% file size, 20% lint/format config."""
    readme = 1.0 if i.readme else 0.0
    total = i.all_code_lines + i.comment_lines
    comments = _clamp((i.comment_lines / total) / 0.2) if total else 0.0
    if i.source_files:
        average = i.all_code_lines / i.source_files
        file_size = 1.0 if average <= 300 else _clamp(1 - (average - 300) / 700)
    else:
        file_size = 0.0
    lint = 1.0 if i.lint_config else 0.0
    return _points(0.3 * readme + 0.3 * comments + 0.2 * file_size + 0.2 * lint)


def eco(i: ScoreInputs) -> int:
    """Is its ecosystem under control: 40% pinned versions, 30% lockfile, 30% dependency load."""
    if i.dependencies == 0:
        return 100
    pinned = _clamp(i.pinned / i.dependencies)
    locked = 1.0 if i.lockfile or i.pinned == i.dependencies else 0.0
    load = 1.0 if i.dependencies <= 30 else _clamp(1 - (i.dependencies - 30) / 120)
    return _points(0.4 * pinned + 0.3 * locked + 0.3 * load)


def compute(i: ScoreInputs) -> Scores:
    return Scores(health(i), vibe(i), eco(i))
