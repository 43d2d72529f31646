"""Run every benchmark and print their figures as one table: ``python -m bench`` (``make bench``).

Each benchmark is a script in this folder that prints a final JSON line; this entry runs them
one after another (the figures are comparable only on an otherwise idle machine) and prints a
Markdown table, the one kept in the README.

    python -m bench [--only NAME ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "detection_quality": ("detection_quality.py", [], []),
    "detection_speed": ("detection_speed.py", [], ["--seconds", "1"]),
    "sandbox_generate": ("sandbox_generate.py", ["--users", "100000"], ["--users", "10000"]),
    "directory_sync": ("directory_sync.py", ["--users", "50000", "--groups", "5000"],
                       ["--users", "5000", "--groups", "500"]),
    "historic_scan": ("historic_scan.py", [], ["--quick"]),
    "rules_audit": ("rules_audit.py", [], []),
    "protection_latency": ("protection_latency.py", [], ["--quick"]),
    "receiver_flood": ("receiver_flood.py", [], ["--quick"]),
}


def run(name: str, quick: bool) -> tuple[dict[str, object] | None, float, str]:
    script, full, short = BENCHMARKS[name]
    path = HERE / script
    if not path.exists():
        return None, 0.0, "missing"
    cmd = [sys.executable, str(path), *(short if quick else full)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    elapsed = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, elapsed, f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(lines[-1]), elapsed, " ".join(["python", f"bench/{script}", *cmd[2:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    print("| benchmark | figures | command |\n|---|---|---|")
    failed = 0
    for name in args.only or list(BENCHMARKS):
        figures, _elapsed, command = run(name, args.quick)
        if figures is None:
            failed += command != "missing"
            print(f"| {name} | {command} | |", flush=True)
            continue
        shown = ", ".join(f"{k}={v}" for k, v in figures.items() if not isinstance(v, dict | list))
        print(f"| {name} | {shown} | `{command}` |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
