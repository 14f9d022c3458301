"""What a cluster's worker process runs for a chunk of tasks, and what both ends of it share (dask, Ray).

A chunk is sent as its (task, fingerprint) pairs and a ``RunContext``: the config pickled once by the main
process and named by its digest, the versions the run's fingerprints were made with, and the name of the
run's stop file. A worker unpickles a config once (``_config``: later chunks of the run get the very same
object, so the pipelines, the WordNet index and the libraries' imports that hang off it are built once per
worker process), runs one chunk at a time (a worker with several threads would share one run file, one
stderr and the libraries' global random state between them), and checks the stop file between two tasks:
the main process creates it to cancel the run, and waits for the chunks running to stop.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import pickle
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from augcli.config import Config
from augcli.journal import TaskRecord, forget_inherited_logs, name_run_files_by_host
from augcli.manifest import STATE_DIR
from augcli.modalities.registry import plugin
from augcli.plan import Task, chunk_size, chunked, prefetch_seeds
from augcli.runner import process_chunk

STOP_PREFIX = "stop-"
#: Seconds the main process waits, once it has asked the running chunks to stop, for them to finish the task
#: they are doing (one task: a few images, or a table's range of rows).
STOP_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class RunContext:
    """What every chunk of one run is sent with (small: the config pickled, a few names)."""

    digest: str  # of the pickled config: a worker unpickles each config once
    config: bytes
    modalities: tuple[str, ...]
    versions: tuple[tuple[str, str], ...]  # the libraries the main process made the fingerprints with
    stop_file: str

    @classmethod
    def of(cls, config: Config, work: Iterable[tuple[Task, str]], token: str) -> RunContext:
        blob = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
        modalities = tuple(sorted({task.item.modality for task, _ in work}))
        return cls(hashlib.sha256(blob).hexdigest(), blob, modalities,
                   tuple(sorted(shaping_versions(modalities).items())),
                   str(Path(config.output) / STATE_DIR / f"{STOP_PREFIX}{token}"))


def shaping_versions(modalities: Iterable[str]) -> dict[str, str]:
    """augcli's version and those of the libraries that shape these modalities' outputs."""
    versions = {}
    with contextlib.suppress(metadata.PackageNotFoundError):
        versions["augcli"] = metadata.version("augcli")
    for name in modalities:
        versions.update(plugin(name).library_versions())
    return versions


def run_chunk(work: list[tuple[Task, str]], context: RunContext) -> tuple[str, list[TaskRecord]]:
    """In a worker process: the records of a chunk's tasks (fewer once the run is stopped), and which
    worker made them (``host:pid``)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    with _one_chunk_at_a_time:
        _become_cluster_worker()
        config = _config(context.digest, context.config)
        mismatch = _version_mismatch(dict(context.versions), context.modalities)
        if mismatch:
            return worker, [TaskRecord(task.key, error=f"worker {worker} {mismatch}") for task, _ in work]
        return worker, process_chunk(work, config, stop=functools.partial(os.path.exists, context.stop_file))


_one_chunk_at_a_time = threading.Lock()


@functools.lru_cache(maxsize=2)
def _config(digest: str, blob: bytes) -> Config:
    return pickle.loads(blob)  # the run's own main process pickled it


def _version_mismatch(expected: dict[str, str], modalities: tuple[str, ...]) -> str | None:
    mine = _my_versions(modalities)
    differ = [f"{name} {mine.get(name, 'missing')}, the run's main process {version}"
              for name, version in expected.items() if (name in mine and mine[name] != version)
              or (name not in mine and name != "augcli")]
    if not differ:
        return None
    return ("has other versions than the main process (" + "; ".join(differ) + "): its outputs would not be "
            "the run's; install the same versions on every worker")


@functools.cache
def _my_versions(modalities: tuple[str, ...]) -> dict[str, str]:
    return shaping_versions(modalities)


@functools.cache
def _become_cluster_worker() -> None:
    """Once per worker process: its run files are named by host too (workers of several machines write
    into one shared output folder), and the engine's log lines keep going to the real stderr while a chunk
    points fd 2 at the sink that catches the libraries' messages (runner.LibraryMessages)."""
    forget_inherited_logs()  # a forked LocalCluster worker's copies of the main process's run files
    name_run_files_by_host()
    _random_per_thread()
    with contextlib.suppress(OSError, ValueError):
        stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in getattr(logger, "handlers", ()):
                if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
                    handler.setStream(stderr)


_RANDOM_FUNCTIONS = ("seed", "random", "uniform", "randint", "randrange", "choice", "choices", "sample", "shuffle",
                     "gauss", "normalvariate", "lognormvariate", "expovariate", "vonmisesvariate", "gammavariate",
                     "betavariate", "paretovariate", "weibullvariate", "triangular", "binomialvariate",
                     "getrandbits", "randbytes", "getstate", "setstate")


def _random_per_thread() -> None:
    """``random``'s module functions draw from a generator of the calling thread's own.

    audiomentations and nlpaug draw from ``random``'s one global generator, seeded right before each call
    (seeding.seed_globals); a worker's event loop thread draws from it too (tornado's and distributed's
    jittered timers), and a draw of its that lands between the seed and the library's draws changes an
    output: one clip of the quickstart's 241 samples came out with another AddGaussianSNR noise level on a
    dask worker. With a generator per thread the task's draws are the task's alone, as in a local worker.
    """
    import random

    local = threading.local()

    def generator() -> random.Random:
        mine = getattr(local, "generator", None)
        if mine is None:
            mine = local.generator = random.Random()
        return mine

    def per_thread(name: str):
        def call(*args, **kwargs):
            return getattr(generator(), name)(*args, **kwargs)

        call.__name__ = name
        return call

    for name in _RANDOM_FUNCTIONS:
        if hasattr(random, name):
            setattr(random, name, per_thread(name))


# ---------------------------------------------------------------- the main process's side


def chunks_of(work: list[tuple[Task, str]], n_workers: int) -> list[list[tuple[Task, str]]]:
    """The run's chunks, as the local pool cuts them, the seeds computed once here (not per worker)."""
    prefetch_seeds(task for task, _ in work)
    return list(chunked(work, chunk_size(len(work), n_workers), n_workers))


def in_plan_order(n_chunks: int, submit: Callable[[int], None],
                  next_done: Callable[[], tuple[int, tuple[str, list[TaskRecord]]]], window: int,
                  seen: set[str]) -> Iterator[TaskRecord]:
    """The records of every chunk in chunk order: ``submit(i)`` starts chunk i, ``next_done()`` waits for a
    started chunk to complete (its index, worker and records). At most ``window`` chunks are started past
    the first one not yet yielded, so the results held for it stay bounded. ``seen`` gathers the workers."""
    done: dict[int, list[TaskRecord]] = {}
    next_out = next_sent = 0
    while next_out < n_chunks:
        while next_sent < n_chunks and next_sent - next_out < window:
            submit(next_sent)
            next_sent += 1
        index, (worker, records) = next_done()
        if worker:
            seen.add(worker)
        done[index] = records
        while next_out in done:
            yield from done.pop(next_out)
            next_out += 1


def lost_chunk(chunk: list[tuple[Task, str]], why: str) -> list[TaskRecord]:
    """Records for a chunk the engine gave up on (its workers kept dying): each source is an error, retried
    by the next run."""
    return [TaskRecord(task.key, error=f"the worker processes working on it died ({why}); run again to retry it")
            for task, _ in chunk]
