"""Node.js command-line tools the project's benchmarks and tests use (dynalite, the TypeScript
compiler), installed from npm at a pinned version into `.borgos/tools` on first use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parents[2] / ".borgos" / "tools"


class NodeToolUnavailable(RuntimeError):
    pass


def npm_tool(package: str, version: str, command: str) -> str:
    """Path of `command` from `package@version`, installing it when missing."""
    binary = TOOLS_DIR / "node_modules" / ".bin" / command
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise NodeToolUnavailable(f"npm is needed to install {package}")
        TOOLS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--no-fund", "--no-audit", "--prefix", str(TOOLS_DIR),
             f"{package}@{version}"],
            check=True,
        )  # fmt: skip
    return str(binary)
