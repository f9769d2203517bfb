"""From per-file facts to what a project shows: tech stack, metadata, errors, scores."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from workers.scan.languages import LANGUAGES
from workers.scan.manifests import FRAMEWORKS, SERVICES
from workers.scan.scores import ScoreInputs, compute
from workers.scan.walk import COVERAGE_FILES

# Languages that name a stack (shell scripts or a little HTML do not make a project "shell").
STACK_LANGUAGES = frozenset(
    {"python", "javascript", "typescript", "go", "rust", "java", "kotlin", "scala", "swift", "ruby", "php",
     "csharp", "c", "cpp"}
)  # fmt: skip
STACK_SHARE = 0.05
_FRAMEWORK_NAMES = frozenset(FRAMEWORKS.values())
_SERVICE_NAMES = frozenset(SERVICES.values()) | {"nginx", "memcached", "minio", "kafka"}


def _stack_rank(entry: str) -> int:
    """Order of the stack: languages, frameworks, services, then tools (docker)."""
    if entry in STACK_LANGUAGES:
        return 0
    if entry in _FRAMEWORK_NAMES:
        return 1
    return 2 if entry in _SERVICE_NAMES else 3


MAX_ERRORS = 200


def summarize(files: list[tuple[str, dict[str, Any]]], skipped: Counter[str]) -> dict[str, Any]:
    languages: dict[str, dict[str, int]] = {}
    stack_from_manifests: list[str] = []
    dependencies: dict[str, bool] = {}
    errors: list[dict[str, Any]] = []
    coverage: dict[str, float] = {}
    skipped = Counter(skipped)
    readme = ""
    lint = lockfile = False
    test_files = test_lines = test_comments = 0
    read = 0
    for path, facts in files:
        if "skip" in facts:
            skipped[facts["skip"]] += 1
            continue
        read += 1
        lint = lint or bool(facts.get("lint"))
        lockfile = lockfile or bool(facts.get("lockfile"))
        readme = readme or facts.get("readme", "")
        if facts.get("coverage") is not None:
            coverage[path] = facts["coverage"]
        for entry in facts.get("stack", []):
            if entry not in stack_from_manifests:
                stack_from_manifests.append(entry)
        for name, pinned in facts.get("deps", []):
            key = name.lower()
            dependencies[key] = dependencies.get(key, True) and bool(pinned)
        for kind, line, message in facts.get("errors", []):
            errors.append({"type": kind, "file": path, "line": line, "message": message})
        language = facts.get("language")
        if language is None:
            continue
        stats = languages.setdefault(language, {"files": 0, "code": 0, "comments": 0, "blanks": 0})
        stats["files"] += 1
        for key in ("code", "comments", "blanks"):
            stats[key] += facts[key]
        if facts.get("test") and LANGUAGES[language].programming:
            test_files += 1
            test_lines += facts["code"]
            test_comments += facts["comments"]
    programming = {name: s for name, s in languages.items() if LANGUAGES[name].programming}
    all_code = sum(s["code"] for s in programming.values())
    stack = [
        name
        for name, s in sorted(programming.items(), key=lambda item: (-item[1]["code"], item[0]))
        if name in STACK_LANGUAGES and all_code and s["code"] / all_code >= STACK_SHARE
    ]
    stack += sorted((e for e in stack_from_manifests if e not in stack), key=_stack_rank)
    test_coverage = next((coverage[name] for name in COVERAGE_FILES if name in coverage), None)
    inputs = ScoreInputs(
        errors=len(errors),
        code_lines=all_code - test_lines,
        test_lines=test_lines,
        coverage=test_coverage,
        readme=bool(readme),
        comment_lines=sum(s["comments"] for s in programming.values()),
        all_code_lines=all_code,
        source_files=sum(s["files"] for s in programming.values()),
        lint_config=lint,
        dependencies=len(dependencies),
        pinned=sum(dependencies.values()),
        lockfile=lockfile,
    )
    return {
        "tech_stack": stack,
        **asdict(compute(inputs)),
        "errors": errors[:MAX_ERRORS],
        "error_total": len(errors),
        "metadata": {
            "lines_of_code": all_code,
            "test_coverage": test_coverage,
            "dependencies": len(dependencies),
            "languages": dict(sorted(languages.items())),
            "tests": {"files": test_files, "lines_of_code": test_lines},
            "files_scanned": read,
            "files_skipped": dict(sorted(skipped.items())),
        },
        "readme": readme,
        "score_inputs": asdict(inputs),
    }
