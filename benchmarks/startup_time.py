"""What starting the package costs: ``python -X importtime`` of ``import algd_components`` and of
``import algd_components.functional`` (cumulative microseconds of the package's own line), and the
wall time of ``algd-train --help``; the median of ``--repeats`` fresh processes each.

    python benchmarks/startup_time.py --repeats 5
    python benchmarks/startup_time.py --source /path/to/another/checkout   # the same, for that code

A benchmark (machine- and load-dependent), not a test: docs/performance.md keeps its numbers.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from algd_components.runs import cpu_description


def importtime_s(module: str, env: dict) -> float:
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env,
                         capture_output=True, text=True, check=True).stderr
    line = [ln for ln in err.splitlines() if ln.rstrip().endswith(f"| {module}")][-1]
    return int(line.split("|")[1]) / 1e6


def help_s(env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "algd_components.cli", "--help"], env=env, capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--source", default=None, help="a checkout whose algd_components to time (PYTHONPATH)")
    args = p.parse_args()
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = args.source
    runs = {"import algd_components": lambda: importtime_s("algd_components", env),
            "import algd_components.functional": lambda: importtime_s("algd_components.functional", env),
            "algd-train --help": lambda: help_s(env)}
    out = {name: round(statistics.median(fn() for _ in range(args.repeats)), 2) for name, fn in runs.items()}
    src = args.source or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"seconds (median)": out, "repeats": args.repeats, "source": args.source or "installed",
                      "commit": commit or None, **cpu_description()}))


if __name__ == "__main__":
    main()
