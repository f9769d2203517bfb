"""Error finders: each looks at one file's text and reports what is broken, with the line.

| type       | what                                                                 |
| syntax     | a Python file that does not parse                                    |
| manifest   | a JSON, YAML or TOML file that does not parse (JSONC files excepted) |
| dockerfile | a Dockerfile with no FROM, or an instruction before its first FROM   |
"""

from __future__ import annotations

import ast
import json
import re
import symtable
import tomllib
import warnings
from typing import NamedTuple

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# JSON dialects with comments, which a strict parser would wrongly call broken.
JSONC_NAMES = re.compile(
    r"^(tsconfig.*|jsconfig.*|\.eslintrc.*|devcontainer|settings|launch|tasks|extensions)\.json$"
)
_TOML_LINE = re.compile(r"at line (\d+)")
_DOCKER_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s|$)")


class Finding(NamedTuple):
    type: str
    line: int | None
    message: str


def python_syntax(text: str, rel: str) -> list[Finding]:
    """CPython's parser decides. symtable runs that same parser without turning the tree into
    Python objects (about 40% less CPU than an AST), so nearly every file costs only that. It also
    refuses what the parser accepts but the symbol table does not (`nonlocal x` with no binding, a
    late `from __future__`): a file it refuses is parsed again, and only the parser's error counts."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not errors
            symtable.symtable(text, rel, "exec")
    except (SyntaxError, ValueError, RecursionError):
        return _parser_errors(text, rel)
    return []


def _parser_errors(text: str, rel: str) -> list[Finding]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, rel, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        message = exc.msg[:1].upper() + exc.msg[1:]
        return [Finding("syntax", exc.lineno, message)]
    except ValueError as exc:  # NUL bytes
        return [Finding("syntax", None, str(exc))]
    return []


def json_syntax(text: str, rel: str) -> list[Finding]:
    if JSONC_NAMES.match(rel.rsplit("/", 1)[-1]) or "/.vscode/" in f"/{rel}":
        return []
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return [Finding("manifest", exc.lineno, f"Invalid JSON: {exc.msg}")]
    return []


def yaml_syntax(text: str, rel: str) -> list[Finding]:
    try:
        for _ in yaml.load_all(text, Loader=_LOADER):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = exc.problem or exc.context or "does not parse"
        return [Finding("manifest", mark.line + 1 if mark else None, f"Invalid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return [Finding("manifest", None, f"Invalid YAML: {exc}")]
    return []


def toml_syntax(text: str, rel: str) -> list[Finding]:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        return [Finding("manifest", int(match.group(1)) if match else None, f"Invalid TOML: {exc}")]
    return []


def dockerfile(text: str, rel: str) -> list[Finding]:
    """The first instruction must be FROM (ARG may come before it, for FROM's own arguments)."""
    continued = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if continued:
            continued = stripped.endswith("\\")
            continue
        if not stripped or stripped.startswith("#"):
            continue
        continued = stripped.endswith("\\")
        match = _DOCKER_INSTRUCTION.match(stripped)
        instruction = match.group(1).upper() if match else ""
        if instruction == "FROM":
            return []
        if instruction != "ARG":
            return [Finding("dockerfile", number, f"{instruction or 'Instruction'} before the first FROM")]
    return [Finding("dockerfile", None, "Dockerfile has no FROM instruction")]


FINDERS = {
    "python": python_syntax,
    "json": json_syntax,
    "yaml": yaml_syntax,
    "toml": toml_syntax,
    "dockerfile": dockerfile,
}
