"""Fan tasks out over worker processes (forked on Linux, loky elsewhere); results stream back in plan order."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from augcli.config import Config
from augcli.errors import FATAL_WRITE_ERRNOS, ItemError, OutputWriteError, read_failure
from augcli.io import announcing_writes, sha256_file
from augcli.journal import RunLog, TaskRecord, forget_inherited_logs, process_log
from augcli.manifest import ManifestRow
from augcli.modalities.registry import import_for_workers, plugin
from augcli.plan import Task, chunk_size, chunked, prefetch_seeds
from augcli.workers import forks_workers

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_MESSAGES_PER_TASK, MAX_MESSAGE_CHARS = 20, 300
R = TypeVar("R")

TaskResult = TaskRecord  # the name callers knew: what one task wrote, or why it failed


class WorkerDied(RuntimeError):
    """A worker process died (killed by a signal, the out-of-memory killer, a crash in C code)."""


def execute(work: list[tuple[Task, str]], config: Config) -> Iterator[TaskRecord]:
    """Records of every (task, fingerprint), in plan order, as they complete. Stop iterating to
    cancel the rest (the workers are killed). Raises WorkerDied if a worker process dies."""
    n_workers = config.n_workers([task for task, _ in work])
    prefetch_seeds(task for task, _ in work)  # before the workers start: they inherit (or are sent) the seeds
    if n_workers > 1 and forks_workers():  # imported once here, not once per forked worker
        import_for_workers({task.item.modality for task, _ in work})
    return fan_out(process_chunk, work, n_workers, config)


def fan_out(chunk_func: Callable[..., list[R]], work: list, n_workers: int, *args: Any) -> Iterator[R]:
    """``chunk_func(chunk, *args)`` over chunks of ``work`` on ``n_workers`` processes.

    Yields the results one by one, in the order of ``work``, as chunks complete. Worker
    processes die with this process, whatever kills it, and leave SIGINT to it.
    """
    n_workers = min(n_workers, max(1, len(work)))
    chunks = chunked(work, chunk_size(len(work), n_workers), n_workers)
    if n_workers == 1:
        for chunk in chunks:
            yield from chunk_func(chunk, *args)
        return
    if forks_workers():
        yield from _forked(chunk_func, list(chunks), n_workers, args)
        return
    from joblib import Parallel, delayed  # elsewhere: loky's fresh interpreters
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    parallel = Parallel(n_jobs=n_workers, backend="loky", return_as="generator", max_nbytes=None)
    parent = os.getpid()
    outputs = parallel(delayed(_in_worker)(parent, chunk_func, chunk, *args) for chunk in chunks)
    try:
        for results in outputs:
            yield from results
    except TerminatedWorkerError as exc:
        raise WorkerDied(str(exc).split("\n")[0]) from None
    finally:
        with warnings.catch_warnings():  # joblib's note that cancelled work was wasted: stopping is the point
            warnings.simplefilter("ignore")
            outputs.close()


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Build state that lives to the end of the process (config, discovered files, plan, records) with the
    cyclic garbage collector off, then exempt it from later collections (``gc.freeze``).

    Such state holds no garbage cycles, but every collector pass scans every container object the process
    holds: building a 20,000-source plan paid 0.15 s of passes in a run's main process before its workers
    started (0.3 s in verify), and gathering its records another 0.1 s. Whatever runs after the block
    (a task in the main process, say) is collected as usual; the frozen state is not scanned again.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:  # the outermost block
            if _may_freeze[0]:
                gc.freeze()
            gc.enable()


_may_freeze = [True]  # False while a caller's own frozen objects must stay as they are


@contextlib.contextmanager
def thawed_after() -> Iterator[None]:
    """Around a public call (``run``, ``verify``): what ``long_lived`` and the fork froze is collectable again
    once it returns, so a long-lived caller (a notebook, a service) keeps no uncollectable state of ours.
    A caller that froze objects itself keeps them frozen: then nothing is frozen or unfrozen here (the
    collector has no call that would tell our objects from the caller's)."""
    before = _may_freeze[0]
    ours = _may_freeze[0] = before and gc.get_freeze_count() == 0
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()
        _may_freeze[0] = before


_forked_call: tuple[Callable[..., list], list[list], tuple] | None = None  # in a forked worker: what to run
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
IN_FLIGHT_PER_WORKER = 2  # chunks handed to a worker before it returns one: it never waits for the next


def _forked(chunk_func: Callable[..., list[R]], chunks: list[list], n_workers: int, args: tuple) -> Iterator[R]:
    """The chunks on ``n_workers`` forked processes; results yielded in the order of ``chunks``.

    Each worker has its own two pipes and inherits the function, its arguments and the chunks: only a
    chunk's index goes to it and only the results come back. A worker that dies (killed, out of
    memory), even half-way through sending its results, closes its end of the pipe: WorkerDied,
    never a hang. The main process has no thread of its own here, so no child inherits a lock
    held by another thread.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    global _forked_call
    for stream in (sys.stdout, sys.stderr):  # else a child could write the parent's buffered text again
        with contextlib.suppress(Exception):
            stream.flush()
    context = multiprocessing.get_context("fork")
    workers: list[_ForkedWorker] = []
    try:
        _forked_call = (chunk_func, chunks, args)
        if _may_freeze[0]:
            gc.freeze()  # what the children inherit is never collected there: no full collection walks it
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # a Ctrl-C reaches children that ignore it
        try:
            for _ in range(n_workers):
                task_reader, task_writer = context.Pipe(duplex=False)
                result_reader, result_writer = context.Pipe(duplex=False)
                process = context.Process(target=_forked_worker, args=(task_reader, result_writer, os.getpid()),
                                          daemon=True)
                process.start()
                task_reader.close()
                result_writer.close()
                workers.append(_ForkedWorker(process, task_writer, result_reader))
        finally:
            _forked_call = None
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        with long_lived():  # from here the main process only gathers records, which live to the end of the run
            done: dict[int, list] = {}
            next_out = next_sent = 0
            while next_out < len(chunks):
                for worker in workers:  # every worker busy, and the results waiting for an earlier one bounded
                    while (len(worker.held) < IN_FLIGHT_PER_WORKER and next_sent < len(chunks)
                           and next_sent - next_out < 4 * n_workers):
                        worker.tasks.send(next_sent)
                        worker.held.append(next_sent)
                        next_sent += 1
                ready = set(wait([w.results for w in workers] + [w.process.sentinel for w in workers]))
                for worker in workers:
                    if worker.results in ready or worker.process.sentinel in ready:
                        done.update(worker.receive())
                while next_out in done:
                    yield from done.pop(next_out)
                    next_out += 1
    finally:
        for worker in workers:  # stopping is the point: a half-written file is a temp file the journal names
            worker.process.kill()
        for worker in workers:  # gone before the caller reads their run files
            worker.process.join(5)
            worker.tasks.close()
            worker.results.close()


class _ForkedWorker:
    def __init__(self, process: Any, tasks: Any, results: Any):
        self.process, self.tasks, self.results = process, tasks, results  # tasks: chunk indices; results
        self.held: list[int] = []  # chunk indices sent, in order; a worker returns them in that order

    def receive(self) -> dict[int, list]:
        """The results the worker has sent; WorkerDied if it is dead (its pipe closed, or it exited)."""
        results, failure = {}, None
        try:
            while failure is None and self.results.poll():
                index, ok, payload = self.results.recv()
                self.held.remove(index)
                if ok:
                    results[index] = payload
                else:
                    failure = payload
        except (EOFError, OSError):
            raise WorkerDied("a worker process died") from None
        if failure is not None:
            raise failure
        if not self.process.is_alive():
            raise WorkerDied("a worker process died")
        return results


def _forked_worker(tasks: Any, results: Any, parent: int) -> None:
    _become_forked_worker(parent)
    assert _forked_call is not None, "started by _forked"
    chunk_func, chunks, args = _forked_call
    while True:
        try:
            index = tasks.recv()
        except EOFError:
            return
        try:
            reply = (index, True, chunk_func(chunks[index], *args))
        except Exception as exc:  # a bug, not a bad item (those are records): raised in the main process
            reply = (index, False, exc)
        try:
            results.send(reply)
        except Exception as exc:  # not picklable
            results.send((index, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _become_forked_worker(parent: int) -> None:
    """A forked worker starts as a copy of the main process: give it its own state where the
    parent's would be shared (the stderr sink file, open run files), and the default SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, which stops a run
    _become_worker(parent)
    _stderr_sink.cache_clear()  # the parent's, if it ran tasks itself: same file offset and content
    forget_inherited_logs()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _in_worker(parent: int, chunk_func: Callable[..., list[R]], chunk: list, *args: Any) -> list[R]:
    _become_worker(parent)
    return chunk_func(chunk, *args)


@functools.cache
def _become_worker(parent: int) -> None:
    """Once per worker process: die with the parent, and leave Ctrl-C to it.

    Linux: the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG). Everywhere: a
    watchdog thread polls the parent's PID, for systems without it and for the window before
    the prctl. SIGINT reaches the whole foreground process group on Ctrl-C; the main process
    stops the workers itself, so that they never die half-way through recording a file.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="augcli-parent-watchdog", daemon=True).start()


def process_chunk(work: list[tuple[Task, str]], config: Config,
                  stop: Callable[[], bool] | None = None) -> list[TaskRecord]:
    """Worker entry point. Returns records; never prints and never raises for a bad item. ``stop``: asked
    before each task, true once the run is being cancelled (a cluster's chunks: augcli/executors/cluster.py)."""
    _prepare_worker_process()
    log = process_log(str(config.output), os.getpid())
    results = []
    try:  # the sources this worker now holds: if it dies between two of them, they are still named
        log.reopen_if_removed()
        prenamed = _planned_names(task for task, _ in work)
        log.append({"chunk": [task.key for task, _ in work], "names": prenamed})
    except OutputWriteError as exc:
        return [TaskRecord(work[0][0].key, fatal=f"{FATAL_WRITE_ERRNOS.get(exc.errno, exc.strerror)} "
                                                          f"writing {exc.filename}")]
    journal = _TaskJournal(config, log, set(prenamed))
    with LibraryMessages.caught() as messages, announcing_writes(journal.announce):
        for task, fingerprint in work:
            if stop is not None and stop():
                break
            record = process_task(task, config, fingerprint, messages, journal)
            results.append(record)
            if record.fatal or (record.error and config.on_error == "fail"):
                break
    return results


def _planned_names(tasks: Iterable[Task]) -> list[str]:
    """The files the plan gives these tasks (placed sources, copies, mixed outputs), named in the chunk's
    journal line before any of them is written: no line per file for them."""
    names = []
    for task in tasks:
        if task.rows is None:  # a table's ranges are joined later, under names of their own
            names += [task.original] if task.original else []
            names += task.outputs
            names += [mixed.output for mixed in task.item.mix]
    return names


class _TaskJournal:
    """What a chunk's tasks share: the run file, the files its chunk line named, and the names of the
    current task's files; a file the chunk line did not name (a label file, say) is journaled right
    before its rename (``announcing_writes``)."""

    def __init__(self, config: Config, log: RunLog, prenamed: set[str]):
        self.out_root, self.log, self.prenamed = os.path.join(str(config.output), ""), log, prenamed
        self.written: list[str] = []

    def announce(self, path: str) -> None:
        if path.startswith(self.out_root):  # write_atomic is given joined paths: no normalising needed
            relpath = path[len(self.out_root):].replace(os.sep, "/")
            if relpath not in self.prenamed:
                self.log.append({"name": relpath})
            self.written.append(relpath)


@functools.cache
def _prepare_worker_process() -> None:
    """Once per process: OpenCV single-threaded, and glibc malloc kept from churning pages.

    One process per core already; OpenCV's own threads would oversubscribe. glibc serves
    allocations over its (dynamic) mmap threshold with fresh mmaps and unmaps them on free,
    so every decoded, augmented and encoded image costs hundreds of page faults. Fixed
    thresholds keep those buffers in the heap: measured 3.6 -> 2.7 ms per 512x512 JPEG output.
    """
    import cv2

    cv2.setNumThreads(0)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, 64 * 2**20)
            libc.mallopt(_M_TRIM_THRESHOLD, 256 * 2**20)
        except (OSError, AttributeError):  # not glibc (musl, ...): keep its defaults
            pass


def process_task(task: Task, config: Config, fingerprint: str, messages: LibraryMessages,
                 journal: _TaskJournal) -> TaskRecord:
    """Run one task, journaling as it goes: each file's name before its rename (unless the chunk's line
    named it), then the task's record once all its files are in place. A failed task keeps no rows (all or nothing)."""
    record = TaskRecord(task.key, fingerprint)  # a table's range of rows has a key of its own
    log, out_root, written = journal.log, journal.out_root, journal.written
    written.clear()
    rows: list[ManifestRow] = []
    fragments: list = []
    try:
        try:
            record.dropped = plugin(task.item.modality).process(task, config, rows, fragments)
        finally:
            record.warnings = messages.take()
    except OutputWriteError as exc:
        if exc.errno in FATAL_WRITE_ERRNOS:
            record.fatal = f"{FATAL_WRITE_ERRNOS[exc.errno]} writing {exc.filename}"
        else:
            record.error = f"cannot write {exc.filename}: {exc.strerror}"
    except ItemError as exc:
        record.error = str(exc)
    except OSError as exc:  # writes raise OutputWriteError: this is a read
        record.error = read_failure(exc, config.input, task.item.relpath)
    except Exception as exc:  # a library failing on one item must not stop the others
        record.error = f"{type(exc).__name__}: {exc}"
    if not record.ok:
        record.files = {name: "" for name in written}  # named, so the next complete run removes them
        with contextlib.suppress(OutputWriteError):
            log.append({"task": record.to_plain()})
        return record

    record.rows = [row.to_json() for row in rows]
    record.n_originals = sum(row.copy is None for row in rows)
    record.fragments = [f.to_plain() for f in fragments]
    record.source_sha256 = rows[0].source_sha256 if rows else sha256_file(os.path.join(config.input, task.item.relpath))
    file_hashes = {row.output: row.sha256 for row in rows if "row" not in row.extra and "line" not in row.extra}
    for name in written:  # table rows and lines hash their sample: such a file is hashed here
        record.files[name] = file_hashes.get(name) or sha256_file(os.path.join(out_root, name)) or ""
    try:
        journaled = log.append({"task": record.to_plain()})
    except OutputWriteError as exc:
        record.fatal = f"{FATAL_WRITE_ERRNOS.get(exc.errno, exc.strerror)} writing {exc.filename}"
    else:
        if not record.warnings:  # the very line the journal holds at the run's end
            record.line = journaled
    return record


@functools.cache
def _stderr_sink() -> int:
    """An unnamed file (one per process, for its lifetime) that takes fd 2 while a chunk of tasks runs."""
    fd, path = tempfile.mkstemp(prefix="augcli-stderr-")
    os.unlink(path)
    return fd


def message_list(counts: Any) -> list[dict[str, Any]]:
    """Distinct library messages with the number of sources that emitted each, most frequent first
    (run.json, ``run --json``, ``verify --json``)."""
    return [{"message": m, "count": n} for m, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


class LibraryMessages:
    """The Python warnings and the stderr lines (libpng, OpenCV, ...) of each task of a chunk, deduplicated,
    instead of letting them reach the terminal in the middle of a progress bar.

    fd 2 points at an unnamed sink file for the whole chunk; after each task, ``take`` reads what
    was written since the last one (the sink's offset tells) and the warnings caught meanwhile.
    """

    def __init__(self, fd: int, caught: list) -> None:
        self.fd, self.caught, self.offset = fd, caught, 0

    @classmethod
    @contextlib.contextmanager
    def caught(cls) -> Iterator[LibraryMessages]:
        fd = _stderr_sink()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        try:  # fd 2 is put back whatever happens, a signal's exception in the main process (workers=1) too
            os.dup2(fd, 2)  # fd 2 now shares the sink's file offset
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")  # every item that warns is counted, not the first per process
                for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):  # as Python's defaults
                    warnings.simplefilter("ignore", quiet)
                yield cls(fd, caught)
        finally:
            try:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)

    def take(self) -> list[str]:
        """What the task that just ended emitted (then forgotten)."""
        seen: dict[str, None] = {}
        for warning in self.caught:
            seen[f"{warning.category.__name__}: {warning.message}"[:MAX_MESSAGE_CHARS]] = None
        self.caught.clear()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        end = os.lseek(self.fd, 0, os.SEEK_CUR)
        if end > self.offset:
            text = os.pread(self.fd, min(end - self.offset, 1 << 16), self.offset).decode(errors="replace")
            for raw in text.splitlines():
                if raw.strip():
                    seen[raw.strip()[:MAX_MESSAGE_CHARS]] = None
            self.offset = end
        return list(seen)[:MAX_MESSAGES_PER_TASK]
