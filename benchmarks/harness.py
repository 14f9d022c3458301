"""What the benchmarks share: whole commands in fresh processes, contenders alternating, medians.

A measurement is the wall time of one command, from the moment it is started to the moment it
exits: interpreter start-up, imports, worker start-up and the work itself, as a user waits for
it. Contenders take turns (round r runs every contender once, the order rotated by r), so a
machine that gets busier or quieter during the benchmark (the development machine is shared)
moves them alike; each pair is compared round by round too, and the spread of those ratios is
printed beside the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "baselines"


@dataclass
class Contender:
    label: str
    argv: list[str]
    clean: list[Path] = field(default_factory=list)  # removed before each run (outside the timing)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="rounds (each runs every contender once)")
    parser.add_argument("--quick", action="store_true", help="the small size only, 3 rounds")
    parser.add_argument("--scratch", type=Path, default=Path("/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"),
                        help="where data and outputs go (default /dev/shm: disk timings swing several-fold)")
    parser.add_argument("--json", type=Path, help="also write every measurement to this JSON file")


def augcli_cmd(*args: str) -> list[str]:
    """The console script, as a user runs it (start-up and all)."""
    exe = Path(sys.executable).with_name("augcli")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "augcli", *args]


def baseline_cmd(script: str, *args: str) -> list[str]:
    return [sys.executable, str(BASELINES / script), *args]


def scratch_folder(base: Path, name: str) -> Path:
    folder = base / "augcli-bench" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


CPU: dict[str, list[float]] = {}  # label -> CPU seconds of each run (the command and the workers it reaped)
RSS: dict[str, list[float]] = {}  # label -> peak RSS (MB) of the largest process of each run


def once(contender: Contender) -> float:
    for path in contender.clean:
        shutil.rmtree(path, ignore_errors=True)
    start = time.perf_counter()
    with subprocess.Popen(contender.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{contender.label} failed ({proc.returncode}): {' '.join(contender.argv)}\n{stderr}")
    CPU.setdefault(contender.label, []).append(usage.ru_utime + usage.ru_stime)
    RSS.setdefault(contender.label, []).append(usage.ru_maxrss / 1024)
    return seconds


def alternate(contenders: list[Contender], repeats: int, after: dict | None = None) -> dict[str, list[float]]:
    """Seconds of every run of every contender; ``after[label]`` (a Contender) runs right after
    ``label`` in each round and is timed too (verify of the output just written)."""
    times: dict[str, list[float]] = {c.label: [] for c in contenders}
    for extra in (after or {}).values():
        times[extra.label] = []
    for label in times:
        CPU[label], RSS[label] = [], []
    for r in range(repeats):
        order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]
        for contender in order:
            times[contender.label].append(once(contender))
            if after and contender.label in after:
                extra = after[contender.label]
                times[extra.label].append(once(extra))
            print(f"  round {r + 1}/{repeats}: {contender.label}: {times[contender.label][-1]:.2f} s",
                  file=sys.stderr, flush=True)
    return times


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def report(title: str, times: dict[str, list[float]], units: dict[str, int], unit: str,
           pairs: list[tuple[str, str, str]]) -> dict:
    """Print medians with min-max and, for each (subject, reference, target) pair, how many times
    faster the subject is: reference median / subject median, and the range of per-round ratios."""
    print(f"\n{title}")
    for label, values in times.items():
        rate = f"  {units[label] / statistics.median(values):8.1f} {unit}/s" if label in units else ""
        print(f"  {label:<24} {spread(values)}{rate}   CPU {statistics.median(CPU[label]):6.2f} s, "
              f"peak RSS {statistics.median(RSS[label]):5.0f} MB")
    figures = {"title": title, "seconds": times, "cpu_seconds": {k: CPU[k] for k in times},
               "peak_rss_mb": {k: RSS[k] for k in times}, "ratios": {}}
    for subject, reference, target in pairs:
        per_round = [b / a for a, b in zip(times[subject], times[reference], strict=True)]
        ratio = statistics.median(times[reference]) / statistics.median(times[subject])
        print(f"  {subject} vs {reference}: {ratio:.2f}x (medians); per round {statistics.median(per_round):.2f}x, "
              f"{min(per_round):.2f}-{max(per_round):.2f}; target {target}")
        figures["ratios"][f"{subject} vs {reference}"] = {"ratio": ratio, "rounds": per_round, "target": target}
    return figures


def save(path: Path | None, figures: list[dict]) -> None:
    if path:
        path.write_text(json.dumps(figures, indent=2) + "\n")
