"""What the benchmarks share: each measurement in a fresh process, contenders round-robin, best of N.

A benchmark script calls ``contender_main`` first (it answers when it was started as one
contender's process) and ``round_robin`` to run every contender ``repeats`` times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def add_contender_args(parser: argparse.ArgumentParser, kinds: list[str]) -> None:
    """The hidden options a contender's own process is started with."""
    parser.add_argument("--contender", choices=kinds, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)


def contender_main(args: argparse.Namespace, once: Callable[[str, Path, Path], int]) -> bool:
    """In a contender's process: warm up on ``args.warm``, time ``args.data``, print outputs/s."""
    if not args.contender:
        return False
    once(args.contender, args.warm, args.out.with_name(args.out.name + "-warm"))
    start = time.perf_counter()
    n = once(args.contender, args.data, args.out)
    print(json.dumps({"rate": n / (time.perf_counter() - start)}))
    return True


def round_robin(script: str, contenders: dict[str, str], scratch: Path, workers: int, repeats: int
                ) -> dict[str, float]:
    """Best rate of each contender (label -> kind), every pass a fresh process, interleaved."""
    best = dict.fromkeys(contenders, 0.0)
    for r in range(repeats):
        for label, kind in contenders.items():
            out = scratch / f"{kind}-{r}"
            cmd = [sys.executable, script, "--contender", kind, "--data", str(scratch / "data"),
                   "--warm", str(scratch / "warm"), "--out", str(out), "--workers", str(workers)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            best[label] = max(best[label], json.loads(done.stdout.strip().splitlines()[-1])["rate"])
            for folder in scratch.glob(f"{kind}-{r}*"):
                shutil.rmtree(folder)
    return best
