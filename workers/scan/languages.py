"""Languages by file name, and line counting (code, comments, blanks) the way cloc does it, with
one simplification: a line that holds code and a comment counts as code, and a block comment opening
after code on a line is followed to its end."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final


@dataclass(frozen=True)
class Language:
    name: str
    line_comments: tuple[str, ...] = ()
    blocks: tuple[tuple[str, str], ...] = ()
    programming: bool = True  # counts towards lines_of_code (data and prose do not)


C_LIKE = (("/*", "*/"),)
_L = Language
LANGUAGES: Final[dict[str, Language]] = {
    lang.name: lang
    for lang in (
        _L("python", ("#",), (('"""', '"""'), ("'''", "'''"))),
        _L("javascript", ("//",), C_LIKE),
        _L("typescript", ("//",), C_LIKE),
        _L("go", ("//",), C_LIKE),
        _L("rust", ("//",), C_LIKE),
        _L("java", ("//",), C_LIKE),
        _L("kotlin", ("//",), C_LIKE),
        _L("scala", ("//",), C_LIKE),
        _L("swift", ("//",), C_LIKE),
        _L("c", ("//",), C_LIKE),
        _L("cpp", ("//",), C_LIKE),
        _L("csharp", ("//",), C_LIKE),
        _L("php", ("//", "#"), C_LIKE),
        _L("ruby", ("#",), (("=begin", "=end"),)),
        _L("shell", ("#",)),
        _L("powershell", ("#",), (("<#", "#>"),)),
        _L("lua", ("--",), (("--[[", "]]"),)),
        _L("perl", ("#",)),
        _L("r", ("#",)),
        _L("sql", ("--",), C_LIKE),
        _L("html", (), (("<!--", "-->"),)),
        _L("vue", ("//",), (("<!--", "-->"), ("/*", "*/"))),
        _L("svelte", ("//",), (("<!--", "-->"), ("/*", "*/"))),
        _L("css", (), C_LIKE),
        _L("scss", ("//",), C_LIKE),
        _L("dockerfile", ("#",)),
        _L("make", ("#",)),
        _L("yaml", ("#",), programming=False),
        _L("toml", ("#",), programming=False),
        _L("json", (), programming=False),
        _L("xml", (), (("<!--", "-->"),), programming=False),
        _L("markdown", (), (("<!--", "-->"),), programming=False),
        _L("rst", (), programming=False),
        _L("text", (), programming=False),
    )
}

EXTENSIONS: Final[dict[str, str]] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala",
    ".swift": "swift", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".hh": "cpp", ".cs": "csharp", ".php": "php", ".rb": "ruby", ".rake": "ruby", ".sh": "shell",
    ".bash": "shell", ".zsh": "shell", ".ps1": "powershell", ".lua": "lua", ".pl": "perl", ".pm": "perl",
    ".r": "r", ".sql": "sql", ".html": "html", ".htm": "html", ".vue": "vue", ".svelte": "svelte",
    ".css": "css", ".scss": "scss", ".sass": "scss", ".less": "css", ".yml": "yaml", ".yaml": "yaml",
    ".toml": "toml", ".json": "json", ".xml": "xml", ".md": "markdown", ".markdown": "markdown",
    ".rst": "rst", ".txt": "text",
}  # fmt: skip
FILENAMES: Final[dict[str, str]] = {
    "Dockerfile": "dockerfile", "Containerfile": "dockerfile", "Makefile": "make", "GNUmakefile": "make",
    "Gemfile": "ruby", "Rakefile": "ruby", "Jenkinsfile": "text",
}  # fmt: skip


def language_of(name: str) -> str | None:
    """The language of a file by its base name (Dockerfile.dev is a Dockerfile)."""
    if name in FILENAMES:
        return FILENAMES[name]
    if name.startswith(("Dockerfile.", "Containerfile.")) or name.endswith(".dockerfile"):
        return "dockerfile"
    dot = name.rfind(".")
    return EXTENSIONS.get(name[dot:].lower()) if dot > 0 else None


def count_lines(text: str, language: Language) -> tuple[int, int, int]:
    """(code, comments, blanks) of a file's text."""
    code = comments = blanks = 0
    line_comments = language.line_comments
    blocks = language.blocks
    starts, trailing = _markers(language)
    closing: str | None = None  # the end marker of the block comment we are in
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            blanks += 1
        elif closing is not None:
            comments += 1
            if closing in line:
                closing = None
        elif line_comments and line.startswith(line_comments):
            comments += 1
        elif starts and line.startswith(starts):
            comments += 1
            start, end = _opening(line, blocks)
            if end not in line[len(start) :]:
                closing = end
        else:
            code += 1
            if trailing:
                closing = _left_open(line, trailing)
    return code, comments, blanks


_PREFIXES = "rRuUbB"


@cache
def _markers(language: Language) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """What opens a comment block at a line's start (Python docstrings may carry a prefix: r\"\"\"),
    and the blocks that may open after code (C-like; Python's triple quotes after code are strings)."""
    starts = [start for start, _ in language.blocks]
    if '"""' in starts:
        starts += [prefix + quote for prefix in _PREFIXES for quote in ('"""', "'''")]
    trailing = tuple((start, end) for start, end in language.blocks if start not in ('"""', "'''"))
    return tuple(starts), trailing


def _opening(line: str, blocks: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    for start, end in blocks:
        if line.startswith(start):
            return start, end
    for start, end in blocks:  # a prefixed docstring
        if line[1:].startswith(start):
            return line[0] + start, end
    raise ValueError(line)  # callers check `starts` first


def _left_open(line: str, blocks: tuple[tuple[str, str], ...]) -> str | None:
    """A block comment that opens after code and does not close on the same line."""
    for start, end in blocks:
        if start in line:
            at = line.rfind(start)
            if line.find(end, at + len(start)) < 0:
                return end
    return None
