"""How many worker processes a job deserves: all usable cores, unless it is too small to repay them.

A worker costs time before it pays: ~0.3 s forked (Linux), seconds as a fresh interpreter
(loky, elsewhere) that imports augcli and the modality's libraries and builds the pipeline again.
With ``k`` workers a job of ``W`` seconds of work takes about ``S + W / k``, alone ``W``: fanning
out pays when ``W > S * k / (k - 1)``, ``S`` being ``startup_seconds()``. ``W`` is estimated from
the sources' sizes with the rough per-byte costs below, measured on the 2-core development
machine; for a small job a wrong estimate costs at most about ``S``, and a big job never gets
fewer than all cores.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

#: What fanning out costs before it pays, on the 2-core machine. Forked workers (Linux) inherit
#: everything: their first result comes 0.01-0.02 s after the fork for a trivial chunk, 0.07 s for a
#: 4-copy 512 px source; but the quickstart (~0.23 s of work) took 0.3-0.4 s more CPU on 2 forked
#: workers than in one process (copy-on-write faults, results pickled), no faster in wall time.
#: Loky's fresh interpreters (elsewhere) import it all again: 1.2-1.4 s to the first result.
FORKED_STARTUP_SECONDS, SPAWNED_STARTUP_SECONDS = 0.3, 1.3
#: CPU seconds per byte of source for each augmented output, measured in-process (`--workers 1`):
#: a 512x512 JPEG (~55 kB) through flip + rotate + brightness ~1.5 ms, a 128x128 one (~7 kB)
#: ~0.3 ms; a 4 s 16 kHz PCM_16 clip (128 kB) through noise, gain, stretch, shift ~6 ms; a
#: 100-byte sentence through SynonymAug + RandomWordAug ~1 ms; a video clip is decoded and encoded again,
#: frame by frame: a 35 kB 320x240 2 s H.264 clip ~1 s a copy, a 2 MB 720p 60 s one ~85 s a copy.
SECONDS_PER_BYTE = {"image": 2.5e-8, "audio": 4.5e-8, "text": 1e-5, "video": 2e-5}
SECONDS_PER_OUTPUT = 1.5e-4  # read, hash, rename, manifest row
#: An annotated image's output also carries its labels through the pipeline and writes them: a
#: 600-image COCO set (~19 kB JPEGs, flip + rotate + brightness) took 2.25 ms per output in-process.
SECONDS_PER_ANNOTATED_OUTPUT = 1.5e-3
SECONDS_PER_PLACED_BYTE = 1e-9  # an original or a copied split: read, hash and write its bytes
SIZED_TASKS = 256  # sources whose size is looked at (evenly spread); the rest are extrapolated


def forks_workers() -> bool:
    """Workers are forked from the main process on Linux: they start at once with everything it has
    imported and built. Elsewhere fork is unsafe (macOS system libraries) or absent: loky."""
    return sys.platform.startswith("linux") and os.environ.get("AUGCLI_WORKERS_START", "fork") == "fork"


def startup_seconds() -> float:
    return FORKED_STARTUP_SECONDS if forks_workers() else SPAWNED_STARTUP_SECONDS


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_workers(input_root: Any, tasks: Sequence[Any], copies: int, cores: int | None = None) -> int:
    """All ``cores`` if the tasks' estimated work repays starting them, else 1 (the main process)."""
    cores = cores or usable_cores()
    if cores == 1 or not tasks:
        return 1
    needed = startup_seconds() * cores / (cores - 1)
    return cores if estimated_seconds(input_root, tasks, copies) > needed else 1


def estimated_seconds(input_root: Any, tasks: Sequence[Any], copies: int) -> float:
    """Rough seconds of work in ``tasks`` (objects with ``item.relpath``, ``item.modality``,
    ``original``, ``outputs`` and ``seeds``, as plan.Task), from a spread sample of their sources'
    sizes. A table is one task with one output file holding ``copies`` augmented rows per row."""
    step = max(1, len(tasks) // SIZED_TASKS)
    sized = tasks[::step]
    total = 0.0
    for task in sized:
        if not getattr(task, "first", True):  # a table made in row ranges: its size counts once
            continue
        try:
            size = os.stat(os.path.join(input_root, task.item.relpath)).st_size
        except OSError:
            continue  # a source that cannot be read fails fast
        outputs = len(task.outputs)
        if outputs and not task.seeds:  # a table: every row augmented ``copies`` times
            outputs = copies
        per_output = SECONDS_PER_OUTPUT + size * SECONDS_PER_BYTE.get(task.item.modality, 1e-7)
        if getattr(task.item, "annotations", None) is not None:
            per_output += SECONDS_PER_ANNOTATED_OUTPUT
        total += outputs * per_output
        total += (task.original is not None) * size * SECONDS_PER_PLACED_BYTE
    return total * len(tasks) / len(sized)

