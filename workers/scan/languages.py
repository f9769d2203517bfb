"""Languages by file name, and line counting (code, comments, blanks) the way cloc does it, with
one simplification: a line that holds code and a comment counts as code, and a block comment opening
after code on a line is followed to its end."""

from __future__ import annotations

from dataclasses import dataclass
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
    closing: str | None = None  # the end marker of the block comment we are in
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            blanks += 1
            continue
        if closing is not None:
            comments += 1
            if closing in line:
                closing = None
            continue
        if line_comments and line.startswith(line_comments):
            comments += 1
            continue
        opened = _opening(line, blocks)
        if opened is not None:
            start, end = opened
            comments += 1
            if end not in line[len(start) :]:
                closing = end
            continue
        code += 1
        if blocks:
            closing = _left_open(line, blocks)
    return code, comments, blanks


def _opening(line: str, blocks: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    for start, end in blocks:
        if line.startswith(start):
            return start, end
    # Python docstrings with a prefix: r\"\"\"...
    if len(line) > 3 and line[0] in "rRuUbB" and blocks and blocks[0][0] == '"""':
        for start, end in blocks:
            if line[1:].startswith(start):
                return line[0] + start, end
    return None


def _left_open(line: str, blocks: tuple[tuple[str, str], ...]) -> str | None:
    """A block comment that opens after code and does not close on the same line (C-like only:
    Python triple quotes after code are strings, not comments)."""
    for start, end in blocks:
        if start in ('"""', "'''"):
            continue
        at = line.rfind(start)
        if at >= 0 and line.find(end, at + len(start)) < 0:
            return end
    return None
