"""Scan and code search on a large real tree: the standard library of this interpreter
(site-packages excluded), copied to a temporary directory so the rescan can touch files.

Measured in one run, against baselines measured in the same run:
- cold scan time against `cloc` on the same tree (target: ratio at most 1.0), and the CPU time of
  each: the scan uses every core (a process pool analyses files while the main process writes the
  index), cloc one, so on a machine shared with other work the wall ratio swings with the load;
  `scan cpu / cores` against cloc's cpu is what the wall ratio would be on an idle machine;
- index size; rescan with nothing changed and with 20 files changed;
- warm code-search latency p50/p99 for a set of terms, against `rg` (ripgrep) searching the same
  tree for the same terms (target: at least 10x faster at p50).

Run: /work/main/.venv/bin/python -m bench.scan_search   (needs cloc and rg: apt-get install cloc ripgrep)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile
from chalicelib.search import index
from chalicelib.search.text import query_terms
from workers.scan.scanner import scan

TERMS = [
    "authenticate", "getaddrinfo", "HTTPConnection", "parse_args", "temporary directory", "decode utf8",
    "socket timeout", "json dumps", "thread lock", "subprocess Popen", "readUntil", "hashlib sha256",
    "zipfile", "contextmanager", "deprecation warning", "asyncio gather", "base64 encode", "tarfile extract",
    "datetime timezone", "logging handler",
]  # fmt: skip
RUNS = 15  # timed runs of each term after a warm-up


def stdlib_copy(workdir: Path) -> Path:
    source = Path(sysconfig.get_paths()["stdlib"])
    target = workdir / "stdlib"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("site-packages"), symlinks=True)
    return target


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the scan's worker processes, cloc):
    unlike wall time, it hardly moves when other work shares the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_cloc(tree: Path) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), cpu_seconds()
    out = subprocess.run(["cloc", "--quiet", "--json", str(tree)], capture_output=True, text=True, check=True)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return seconds, cpu, int(json.loads(out.stdout)["SUM"]["code"])


def rg_pattern(term: str) -> str:
    # The same words the index matches (case-insensitive, any of them); rg matches substrings.
    return "|".join(query_terms(term))


def time_rg(tree: Path, term: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["rg", "-n", "-i", "--no-heading", "-e", rg_pattern(term), str(tree)],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    for tool in ("cloc", "rg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install cloc ripgrep)")
    with tempfile.TemporaryDirectory(prefix="borgos-bench-") as work:
        workdir = Path(work)
        tree = stdlib_copy(workdir)
        index_path = str(workdir / "code.sqlite")
        cloc_seconds, cloc_cpu, cloc_code = time_cloc(tree)
        scan_cpu = cpu_seconds()
        cold = scan(str(tree), index_path, max_bytes=1 << 20)
        scan_cpu = cpu_seconds() - scan_cpu
        size = os.path.getsize(index_path)
        unchanged = scan(str(tree), index_path, max_bytes=1 << 20)
        touched = sorted(tree.rglob("*.py"))[:: max(1, len(list(tree.rglob("*.py"))) // 20)][:20]
        for path in touched:
            path.write_text(path.read_text(errors="replace") + "\n# touched\n")
        changed = scan(str(tree), index_path, max_bytes=1 << 20)

        conn = index.open_for_reading(index_path)
        ours: list[float] = []
        theirs: list[float] = []
        for term in TERMS:
            index.search(conn, term, 20)  # warm: pages in the cache, as a warm Lambda has them
            for _ in range(args.runs):
                started = time.perf_counter()
                index.search(conn, term, 20)
                ours.append(time.perf_counter() - started)
            time_rg(tree, term)
            for _ in range(max(3, args.runs // 3)):
                theirs.append(time_rg(tree, term))
        conn.close()

    meta = cold.summary["metadata"]
    cores = os.cpu_count() or 1
    p50, p99 = median(ours) * 1e3, percentile(ours, 99) * 1e3
    rg50, rg99 = median(theirs) * 1e3, percentile(theirs, 99) * 1e3
    lines = [
        f"tree: {tree.name} of {sysconfig.get_paths()['stdlib']} (site-packages excluded)",
        f"  files read {cold.files_read}, lines of code {meta['lines_of_code']:,}, cloc {cloc_code:,}",
        f"cold scan     {cold.seconds:8.2f} s   cloc {cloc_seconds:8.2f} s",
        f"  ratio scan/cloc {cold.seconds / cloc_seconds:5.2f} (target <= 1.0)",
        f"  cpu: scan {scan_cpu:.2f} s on {cores} cores, cloc {cloc_cpu:.2f} s (one core);"
        f" load average {os.getloadavg()[0]:.1f}",
        f"  ratio scan cpu per core / cloc cpu {scan_cpu / cores / cloc_cpu:5.2f} (the wall ratio when idle)",
        f"index size    {size / 1e6:8.1f} MB",
        f"rescan, none changed {unchanged.seconds:6.2f} s ({unchanged.files_read} files read)",
        f"rescan, 20 changed   {changed.seconds:6.2f} s ({changed.files_read} files read)",
        f"warm search   p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({len(TERMS)} terms x {args.runs} runs)",
        f"rg            p50 {rg50:7.2f} ms  p99 {rg99:7.2f} ms",
        f"  speed-up vs rg: p50 {rg50 / p50:6.1f}x  p99 {rg99 / p99:6.1f}x (target >= 10x)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
