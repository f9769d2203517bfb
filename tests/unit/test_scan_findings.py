"""The Python syntax finder: CPython's parser decides, through a cheaper first pass."""

from __future__ import annotations

import pytest

from workers.scan.findings import Finding, python_syntax

MEANT = "Did you mean print(...)?"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(:\n    pass\n", [Finding("syntax", 1, "Invalid syntax")]),
        ("if True:\n    x = 1\n      y = 2\n", [Finding("syntax", 3, "Unexpected indent")]),
        ("print 'py2'\n", [Finding("syntax", 1, f"Missing parentheses in call to 'print'. {MEANT}")]),
        ("x = 1\n\x00\n", [Finding("syntax", None, "Source code string cannot contain null bytes")]),
    ],
)  # fmt: skip
def test_parser_errors_are_reported_with_the_parsers_line_and_message(
    source: str, expected: list[Finding]
) -> None:
    assert python_syntax(source, "m.py") == expected


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    nonlocal x\n",  # refused by the symbol table, not by the parser
        "x = 1\nfrom __future__ import annotations\n",
        "def f():\n    return 1\n",
        'path = "C:\\dir"\n',  # an invalid escape is a warning, not an error
    ],
)
def test_what_the_parser_accepts_is_not_an_error(source: str) -> None:
    assert python_syntax(source, "m.py") == []
