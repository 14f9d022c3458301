"""One run: config -> discover -> plan -> lock, resume -> fan-out -> journal, manifest.jsonl, run.json.

The output folder is locked for the whole run (lock.py). Workers journal every file before it
is renamed into place and each task once it is complete (journal.py), so whatever stops the
run, the next run knows every file on disk: it keeps the outputs that still match, makes the
rest, and removes what no longer belongs.

manifest.jsonl never lies: before the first file it lists is rewritten or removed, it is set aside,
replaced by the rows of the outputs this run keeps (and run.json says ``running``), so a run killed
at any instant leaves only true rows. A run that ends (complete, or stopped by a signal, a full disk,
``on_error: fail``) writes the rows of every output that is complete, and run.json says whether that
manifest is ``complete`` or ``partial``. A run that changes nothing leaves the manifest untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from augcli.balance import label_table
from augcli.config import MODALITIES, Config
from augcli.dataset import AUGMENT, Discovery, discover
from augcli.errors import (
    EXIT_ITEMS_FAILED,
    EXIT_OK,
    FATAL_WRITE_ERRNOS,
    DatasetError,
    OutputWriteError,
    RunStoppedError,
)
from augcli.executors import Executor, describe, open_executor
from augcli.io import TEMP_NAME, announcing_writes, sha256, sha256_file, write_atomic
from augcli.journal import (
    LOCK_NAME,
    RUN_PREFIX,
    RUN_SUFFIX,
    STATE_DIR,
    JournalState,
    RowSpool,
    RunLog,
    TaskRecord,
    close_process_log,
    read_state,
    remove_run_files,
    run_files,
    shift_rows,
    write_journal,
)
from augcli.lock import OutputLock
from augcli.manifest import (
    MANIFEST_NAME,
    PARTIAL_SUFFIX,
    RUN_NAME,
    SCHEMA_VERSION,
    ManifestRow,
    is_own_file,
    write_manifest,
)
from augcli.modalities.registry import library_versions, load_config, plugin
from augcli.plan import Plan, build_plan, expected_outputs, fingerprint, run_digest
from augcli.runner import WorkerDied, long_lived, message_list, thawed_after
from augcli.tables import PARTS_DIR

Progress = Callable[[int, int], None]  # (outputs made, outputs to make): files, or a table's samples
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
RESERVE_NAME, RESERVE_BYTES = "reserve", 256 * 1024


@dataclass
class RunResult:
    config: Config
    plan: Plan
    discovery: Discovery
    dry_run: bool = False
    status: str = "planned"  # planned | complete | stopped | interrupted | failed
    outputs_written: int = 0
    originals_written: int = 0
    files_written: int = 0  # files on disk: a table or text file holds many samples (rows, lines)
    files_recorded: int = 0  # a stopped run: files in the output that the journal records (any run's)
    reused: int = 0  # manifest rows of outputs kept from an earlier run (resume)
    errors: list[dict[str, str]] = field(default_factory=list)
    stale_removed: int = 0
    dropped_unchanged: int = 0
    seconds: float = 0.0
    signal: int | None = None  # the signal that interrupted the run
    fatal: str | None = None  # why the run could not go on (disk full: names the file)
    manifest: str | None = None  # complete | partial (what was complete when it stopped) | absent; None: untouched
    command: str | None = None  # the command that makes (or finishes) this run, when the config came from a file
    sources_complete: int = 0  # sources whose outputs are all in place and listed in the manifest
    warnings: Counter = field(default_factory=Counter)  # library message -> sources that emitted it
    executor: dict[str, Any] | None = None  # where the tasks ran: name, address, engine version, workers
    _planned: dict[str, int] | None = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 128 + (self.signal or signal.SIGINT)
        return EXIT_ITEMS_FAILED if self.errors or self.status in ("stopped", "failed") else EXIT_OK

    @property
    def workers(self) -> int:
        """Worker processes the run uses (a dry run: would use) for its plan; 1 is the main process alone."""
        if self.executor is not None and self.executor["name"] != "local":
            return self.executor["workers"]  # a cluster's: those that took part
        tasks = self.plan.tasks
        return min(self.config.n_workers(tasks), max(1, len(tasks)))

    def planned_files(self) -> dict[str, int]:
        """Every file the plan writes, as each modality's ``planned_files`` names them: ``files`` in all, of
        which ``labels_and_sidecars`` (label files, masks, transcript sidecars) and ``aggregates`` (COCO
        JSONs, ImageSets lists, data.yaml, metadata.csv, soft_labels.csv: one per run however many tasks add to it)."""
        if self._planned is None:
            own, aggregates, counters = 0, set(), {}
            for task in self.plan.tasks:
                modality = task.item.modality
                if modality not in counters:
                    counters[modality] = plugin(modality).planned_files
                n, targets = counters[modality](task, self.config)
                own += n
                aggregates.update(targets)
            samples = self.plan.n_outputs + self.plan.n_originals + sum(len(t.item.mix) for t in self.plan.tasks)
            self._planned = {"files": own + len(aggregates), "labels_and_sidecars": own - samples,
                             "aggregates": len(aggregates)}
        return self._planned

    def counts(self) -> dict[str, int]:
        tasks = [t for t in self.plan.tasks if t.first]  # a table made in row ranges is one source
        return {
            "sources": len(tasks),
            "augmented_sources": sum(t.item.action == AUGMENT for t in tasks),
            "copied_sources": sum(t.item.action != AUGMENT for t in tasks),
            "planned_outputs": self.plan.n_outputs,
            "planned_originals": self.plan.n_originals,
            "planned_files": self.planned_files()["files"],  # every file the run writes: labels, aggregates too
            "outputs_written": self.outputs_written,
            "originals_written": self.originals_written,
            "files_written": self.files_written,
            "reused": self.reused,
            "failed": sum("kind" not in e for e in self.errors),  # sources that failed
            "problems": sum("kind" in e for e in self.errors),  # other entries: COCO image entries, folders...
            "dropped_unchanged": self.dropped_unchanged,
            "unmatched_files": self.discovery.unmatched,
            "stale_removed": self.stale_removed,
            "annotation_values_repaired": self.discovery.annotations_repaired,
            "warnings": sum(self.warnings.values()),
        }

    def warning_list(self) -> list[dict[str, Any]]:
        """Distinct library messages with the number of sources that emitted each, most frequent first."""
        return message_list(self.warnings)

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary (``augcli run --json``)."""
        return {
            "status": self.status,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "input": str(self.config.input),
            "output": str(self.config.output),
            "counts": self.counts(),
            "breakdown": self.plan.breakdown(),
            "labels": label_table(self.plan, self.config),  # per (split, label): sources, outputs, total after
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "warnings": self.warning_list(),
            "fatal": self.fatal,
            "manifest": self.manifest,
            "executor": self.executor,
        }


def run(
    config: Config | str | os.PathLike | dict,
    *,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    fresh: bool = False,
) -> RunResult:
    """Augment a dataset as the config says, resuming an earlier run into the same output.

    Raises ConfigError/DatasetError before writing anything (OutputLockedError if another run
    holds the output), and RunStoppedError when a signal or a full disk stops the run (what was
    written is journaled; the same call resumes). ``fresh`` rewrites every output.
    """
    signals = _Signals()  # from the start: discovering a large input can take a while
    with signals.installed(), thawed_after():
        try:
            return _run(config, overrides, dry_run, progress, fresh, signals)
        except _Signalled as stop:
            raise RunStoppedError(f"interrupted by {SIGNAL_NAMES[stop.signum]} before anything was written",
                                  None, 128 + stop.signum) from None


def _run(config: Config | str | os.PathLike | dict, overrides: dict[str, Any] | None, dry_run: bool,
         progress: Progress | None, fresh: bool, signals: _Signals) -> RunResult:
    command = _command(config, overrides)
    with long_lived():  # the config, the files found and the plan: held to the end
        if not isinstance(config, Config):
            config = load_config(config, overrides)
        started = time.perf_counter()
        discovery = discover(config)
        plan = build_plan(config, discovery.items) if discovery.items else None
    if plan is None:
        patterns = {name: getattr(config, name).include for name in MODALITIES if getattr(config, name)}
        raise DatasetError(
            f"no files to process in {config.input}: nothing matches "
            + " or ".join(f"{name}.include {include}" for name, include in patterns.items())
            + "; check the patterns and the input folder"
        )
    result = RunResult(config, plan, discovery, dry_run=dry_run, command=command)
    result.errors += [dict(e) for e in discovery.errors]  # unreadable folders, bad names
    if dry_run:
        return result
    _refuse_foreign_folder(config.output)
    executor = open_executor(config, plan.tasks)  # a cluster that cannot be reached: nothing is written
    try:
        lock = OutputLock.acquire(config.output / STATE_DIR / LOCK_NAME, config.output)
        try:
            _Execution(config, plan, result, progress, fresh, started, executor).run(signals)
        finally:
            lock.release()
    finally:
        executor.close()
    if result.status == "interrupted":
        raise RunStoppedError(
            f"interrupted by {SIGNAL_NAMES.get(result.signal, 'a signal')}: {result.files_recorded} files are in "
            f"{config.output} and recorded; run the same command again to resume", result, result.exit_code)
    if result.status == "failed":
        raise RunStoppedError(f"{result.fatal}; make room (or fix the output folder) and run the same command "
                              "again to resume", result, EXIT_ITEMS_FAILED)
    return result


class _Signalled(BaseException):
    """SIGINT/SIGTERM arrived: unwinds the run (not an Exception, so no item handler swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """SIGINT and SIGTERM stop the run at once, the first one only: cleaning up is not interrupted."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            self.ignore()
            raise _Signalled(signum)

    def ignore(self) -> None:
        """From now on the signals are ignored by the kernel: cleaning up is short and must finish,
        and processes started meanwhile (loky runs pgrep to kill its workers) inherit that."""
        for signum in self._previous:
            signal.signal(signum, signal.SIG_IGN)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)


class _Execution:
    def __init__(self, config: Config, plan: Plan, result: RunResult, progress: Progress | None, fresh: bool,
                 started: float, executor: Executor):
        self.config, self.plan, self.result, self.progress = config, plan, result, progress
        self.executor = executor
        result.executor = describe(executor)  # run.json says where it runs from its first write ('running')
        self.fresh, self.started = fresh, started
        self.output: Path = config.output
        self.reused: dict[str, TaskRecord] = {}
        self.aggregates_kept: set[str] = set()  # aggregate files whose bytes a re-run would not change
        self.outcomes: dict[str, TaskRecord] = {}  # this run's records, ok or failed
        self.old_records: dict[str, TaskRecord] = {}
        self.named: set[str] = set()  # every file an earlier run or this one may have left
        self.fingerprints: dict[str, str] = {}  # task key -> fingerprint
        self.sources = {t.key: t.item.relpath for t in plan.tasks if t.rows is not None}  # a range's source
        self.log = RunLog(self.output)  # the main process's own run file (aggregates)
        self.spool = RowSpool(self.output / STATE_DIR)  # the records' manifest lines, out of memory
        self.to_run = 0
        self.expected: dict[str, int] = {}  # task key -> outputs planned, for the progress bar
        self.outputs_done = self.outputs_to_make = 0
        self.worker_died = False
        self.recovered = False  # the earlier runs' state is read and merged: only then may the journal be rewritten
        self.listed: dict[str, str] = {}  # what manifest.jsonl lists as the run starts: output -> sha256
        self.set_aside = False  # manifest.jsonl now lists only what this run keeps; run.json says "running"
        self.wall_start = datetime.now(timezone.utc)

    def run(self, signals: _Signals) -> None:
        status = "interrupted"
        try:
            try:
                try:
                    with long_lived():  # the records of earlier runs, the fingerprints
                        self._recover()
                        self._choose_reused()
                    status = self._execute()
                except OutputWriteError as exc:  # the journal itself could not be written: disk full
                    self.result.fatal = _write_failure(exc)
                    status = "failed"
                signals.ignore()  # from here on a signal no longer stops anything: cleaning up is short
                status = self._finish(status)
            except (_Signalled, KeyboardInterrupt):
                signals.ignore()
                status = "interrupted"
                self.result.signal = signals.received or signal.SIGINT
                status = self._finish(status)
        finally:
            self.log.close()
            self.spool.close()
            close_process_log(str(self.output), os.getpid())
            self.result.status = status
            self.result.seconds = time.perf_counter() - self.started
            self.result.executor = describe(self.executor)
            # A run stopped before it changed anything leaves the folder as the previous run left it:
            # its manifest and run.json still describe each other.
            if status == "complete" or self.set_aside:
                with contextlib.suppress(OSError):  # a full disk: run.json is tiny, but may still not fit
                    _write_run_json(self.result, self.wall_start)

    # -------------------------------------------------------------- before: recover, choose what to keep

    def _recover(self) -> None:
        """Merge what a killed run left (its run files) into the journal, and delete its temp files."""
        output = self.output
        state, partial = read_state(output, spool=self.spool), output / (MANIFEST_NAME + PARTIAL_SUFFIX)
        self.old_records = dict(state.records)
        self.listed = _listed(output / MANIFEST_NAME)
        self.named = set(state.named) | set(self.listed) | set(_listed(partial))
        if run_files(output) or partial.exists():
            write_journal(output, list(self.old_records.values()), self._uncovered(self.named, self.old_records))
            remove_run_files(output)
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        _remove_temp_files(output)
        self._reserve(RESERVE_BYTES)
        self.recovered = True

    def _choose_reused(self) -> None:
        """Keep a task's outputs when its record matches this run's fingerprint, its source still has the
        recorded sha256 and every file it wrote still has its recorded sha256."""
        versions = {name: library_versions(self.config, name) for name in MODALITIES}
        runs = {name: run_digest(self.config, name, versions[name]) for name in MODALITIES}  # once per run
        hashes: dict[Path, str | None] = {}  # the ranges of a table share its source and its file

        def sha256_of(path: Path) -> str | None:
            if path not in hashes:
                hashes[path] = sha256_file(path)
            return hashes[path]

        for task in self.plan.tasks:
            key = task.key
            modality = task.item.modality
            self.fingerprints[key] = fingerprint(task, self.config, versions[modality], runs[modality])
            record = self.old_records.get(key)
            if self.fresh or record is None or record.fingerprint != self.fingerprints[key]:
                continue
            if sha256_of(self.config.input / task.item.relpath) != record.source_sha256:
                continue
            if all(digest and sha256_of(self.output / name) == digest for name, digest in record.files.items()):
                self.reused[key] = record
        for ranges in _ranged_tables(self.plan.tasks).values():
            # a joined table is kept whole or remade whole: the parts of its ranges are gone
            if not all(task.key in self.reused for task in ranges):
                for task in ranges:
                    if task.key in self.reused and not _unjoined(self.reused[task.key]):
                        del self.reused[task.key]
        self.result.reused = sum(len(r.rows) for r in self.reused.values())

    # -------------------------------------------------------------- during

    def _execute(self) -> str:
        pending = [(t, self.fingerprints[t.key]) for t in self.plan.tasks if t.key not in self.reused]
        self.to_run = len(pending)
        # a cluster runs a lost worker's chunk again elsewhere: what the lost attempt named, the run files tell
        self.worker_died = bool(pending) and self.executor.retries_elsewhere
        if self.progress:  # counted in outputs: a source of 12 copies is 13 of the bar, as long to make
            planned = expected_outputs(self.plan.tasks, self.config)
            self.expected = {t.key: planned[t.key] for t, _ in pending}
            self.outputs_to_make = sum(self.expected.values())
        if pending:  # their files are about to be (re)written
            self._set_aside()
        while pending:
            try:
                with contextlib.closing(self.executor.records(pending, self.config)) as records:
                    for record in records:
                        stop = self._take(record)
                        if stop:
                            return stop
                return "complete"
            except WorkerDied as exc:
                self.worker_died = True
                stop = self._after_worker_death([t.key for t, _ in pending])
                if stop:
                    return stop
                before = len(pending)
                pending = [(t, fp) for t, fp in pending if t.key not in self.outcomes]
                if len(pending) == before:  # no task even began: workers die on start-up
                    for task, _ in pending:
                        self._take(TaskRecord(task.key, error=f"worker processes keep dying ({exc})"))
                    return "complete"
        return "complete"

    def _take(self, record: TaskRecord) -> str | None:
        """Account for one finished task. Returns a status if the run must stop."""
        if record.source in self.outcomes:
            return None
        record.rows = self.spool.put(record.rows)
        if not isinstance(record.rows, list):  # its rows went out of memory: so does their journal line
            record.line = None
        self.outcomes[record.source] = record
        result = self.result
        if record.warnings:
            result.warnings.update(record.warnings)
        if record.fatal:
            result.fatal = record.fatal
            return "failed"
        if record.error:
            error = {"source": self.sources.get(record.source, record.source), "reason": record.error}
            if error not in result.errors:  # every range of a table that does not read says so: once
                result.errors.append(error)
        else:
            result.originals_written += record.n_originals
            result.outputs_written += len(record.rows) - record.n_originals
            result.dropped_unchanged += record.dropped
        if self.progress:  # a task's planned outputs are done, or for a failed one out of the total
            planned = self.expected.get(record.source, 0)
            if record.error:
                self.outputs_to_make -= planned
            else:
                self.outputs_done += planned
            self.progress(self.outputs_done, self.outputs_to_make)
        if record.error and self.config.on_error == "fail":
            return "stopped"
        return None

    def _after_worker_death(self, pending: list[str]) -> str | None:
        """A worker died: the tasks that finished are in the run files; the ones it (or, killed with
        it, another worker) was doing are errors naming their source; the rest run in a fresh pool."""
        _wait_until_gone(_writer_pids(self.output) - {os.getpid()})  # the pool is being killed: let it finish dying
        state = read_state(self.output, include_journal=False)
        for source in pending:
            if source in state.finished and source not in self.outcomes:
                stop = self._take(state.finished[source])
                if stop:
                    return stop
        lost = [s for s in pending if s in state.begun and s not in self.outcomes]
        if not lost:  # it died between two sources: the ones it held, not begun, are the ones it took down
            lost = [s for s in pending if s in state.held and s not in self.outcomes]
        for source in lost:
            stop = self._take(TaskRecord(source, error=(
                "the worker process working on it died (killed by a signal or out of memory?); "
                "run again to retry it")))
            if stop:
                return stop
        return None

    # -------------------------------------------------------------- after: aggregates, stale files, records

    def _reserve(self, size: int) -> None:
        """Hold a little disk space for the journal and run.json, given back when the run ends: a run
        stopped by a full disk can still record how far it got."""
        path = self.output / STATE_DIR / RESERVE_NAME
        with contextlib.suppress(OSError):
            if size:
                path.write_bytes(bytes(size))
            else:
                path.unlink()

    def _finish(self, status: str) -> str:
        output, result = self.output, self.result
        self._reserve(0)
        if not self.recovered:  # stopped before the earlier runs' state was merged: leave it all to the next run
            return status
        if status == "complete" and not self.worker_died:  # every task's record names the files it wrote
            this_run = JournalState(named={name for record in self.outcomes.values() for name in record.files})
        else:  # a task may have named files it never recorded: the run files tell
            this_run = read_state(output, include_journal=False, names_only=status == "complete")
        if status != "complete":  # tasks that finished in a worker while the run was being stopped
            for record in this_run.finished.values():
                if record.source in self.fingerprints and not record.fatal:
                    self._take(record)
        kept: list[TaskRecord] = []
        for task in self.plan.tasks:
            record = self.reused.get(task.key) or self.outcomes.get(task.key)
            if record is not None and record.ok:
                kept.append(record)
        named = self.named | this_run.named
        aggregates: set[str] = set()
        aggregate_lines: list[str] = []
        try:
            if status == "complete":
                kept = self._join_tables(kept)
        except OutputWriteError as exc:
            result.fatal = result.fatal or _write_failure(exc)
            status = "failed"
        produced = {name for record in kept for name in record.files}
        try:
            if status == "complete":
                aggregate_lines = self._write_aggregates(kept, aggregates)
                produced |= aggregates
                result.files_written = len(produced - {name for r in self.reused.values() for name in r.files}
                                           - self.aggregates_kept)
                self._before_changing(named - produced)
                result.stale_removed = self._remove(named - produced)
                records, leftovers = kept, set(aggregates)
            else:  # the plan is not done: keep every record whose files are still there, and name the rest
                result.files_written = len({name for r in self.outcomes.values() if r.ok for name in r.files})
                records = kept + [r for s, r in self.old_records.items()
                                  if s not in self.outcomes and s not in self.reused]
                result.files_recorded = len({name for r in records for name in r.files
                                             if not name.startswith(STATE_DIR + "/")})  # not a table's parts
                if status in ("stopped", "failed"):  # what this run began and did not finish (or failed)
                    result.stale_removed = self._remove(self._uncovered(this_run.named, {r.source: r for r in records}))
                leftovers = self._uncovered(named, {r.source: r for r in records})
            if status != "complete" or self.worker_died:  # a killed worker's half-written file
                _remove_temp_files(output)
            write_journal(output, records, leftovers)
            if status == "complete":  # every table is joined (or failed): its parts are not needed
                shutil.rmtree(output / PARTS_DIR, ignore_errors=True)
            remove_run_files(output)
            # the rows of a table not joined yet are not in the manifest (the table is not there): the journal has
            # them. A run stopped before it changed anything (not set aside) leaves the manifest and run.json be.
            if status == "complete" or self.set_aside:
                self._write_manifest(itertools.chain(_manifest_lines(kept), aggregate_lines),
                                     "complete" if status == "complete" else "partial")
                result.sources_complete = self._complete_sources(kept)
        except OutputWriteError as exc:  # the run files stay: the next run merges them
            result.fatal = result.fatal or _write_failure(exc)
            return "failed" if status != "interrupted" else status
        return status

    def _before_changing(self, names: Iterable[str], digests: dict[str, str] | None = None) -> None:
        """About to rewrite or remove these files: set the manifest aside first if it lists any of them
        (with other bytes than ``digests`` gives, when given: an aggregate written again the same)."""
        if self.set_aside:
            return
        for name in names:
            if name in self.listed and (digests is None or digests.get(name) != self.listed[name]):
                self._set_aside()
                return

    def _set_aside(self) -> None:
        """Before the first file the manifest lists is rewritten or removed: run.json says ``running``
        and manifest.jsonl lists only the outputs this run keeps (files it never touches). A run killed
        from now on leaves a manifest that is true, and a run.json that says it did not finish."""
        if self.set_aside:
            return
        self.set_aside = True
        result = self.result
        kept = [record for task in self.plan.tasks if (record := self.reused.get(task.key)) is not None]
        write = (self.output / MANIFEST_NAME).exists() or bool(kept)
        result.status, result.manifest = "running", "partial" if write else "absent"
        try:
            _write_run_json(result, self.wall_start)
        except OutputWriteError:  # a full disk: the run stops here, before it changed anything, with no
            with contextlib.suppress(FileNotFoundError):  # manifest rather than one run.json does not describe
                (self.output / MANIFEST_NAME).unlink()
            result.manifest = "absent"
            raise
        if not write:
            return
        try:
            self._write_manifest(_manifest_lines(kept), "partial")
            result.sources_complete = self._complete_sources(kept)
        except OutputWriteError:  # no room even for that: no manifest (run.json says so) rather than a false one
            with contextlib.suppress(FileNotFoundError):
                (self.output / MANIFEST_NAME).unlink()
            result.manifest = "absent"
            with contextlib.suppress(OSError):
                _write_run_json(result, self.wall_start)
        self.listed = {}

    def _complete_sources(self, records: list[TaskRecord]) -> int:
        """Sources of these records whose rows are in the manifest (a table made in ranges: once joined)."""
        return len({self.sources.get(r.source, r.source) for r in records if r.ok and not _unjoined(r)})

    def _write_manifest(self, lines: Iterable[str], kind: str) -> None:
        """Replace manifest.jsonl with these rows (unless it holds exactly these already: write_manifest)."""
        write_manifest(self.output, lines)
        self.result.manifest = kind

    def _join_tables(self, kept: list[TaskRecord]) -> list[TaskRecord]:
        """Join each table made in row ranges from its parts, in plan order, streamed into one atomic
        write; its records then name the table and carry its rows' places in it. A table with a range
        that failed is left out whole (its error is recorded). Returns the records to keep."""
        records = {record.source: record for record in kept}
        left_out: set[str] = set()
        for ranges in _ranged_tables(self.plan.tasks).values():
            done = [records.get(task.key) for task in ranges]
            if not all(done):
                left_out.update(task.key for task in ranges)
                continue
            self._join_table(ranges, done)  # type: ignore[arg-type]
        return [record for record in kept if record.source not in left_out]

    def _join_table(self, ranges: list, done: list[TaskRecord]) -> None:
        table = ranges[0].outputs[0]
        if not any(_unjoined(record) for record in done):  # joined by an earlier run and kept
            return
        digest = hashlib.sha256()
        parts = [name for record in done for name in record.files]

        def pieces() -> Iterator[bytes]:
            for name in parts:
                with open(self.output / name, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        yield chunk

        def announce(path: str) -> None:
            self.log.append({"name": os.path.relpath(path, self.output).replace(os.sep, "/")})

        self._before_changing([table])
        with announcing_writes(announce):
            write_atomic(self.output / table, pieces())
        table_sha256 = digest.hexdigest()
        offset = 0
        for record in done:
            if self.config.text and self.config.text.drop_unchanged and offset:  # a row's place depends on the drops
                record.rows = shift_rows(record.rows, offset)
            offset += len(record.rows)
            record.files = {table: table_sha256}
            record.line = None  # changed: its journal line is made again
        if not offset:  # no row at all (every one dropped): the table is still listed, as a file
            text_plugin = plugin(ranges[0].item.modality)
            done[-1].rows = text_plugin.table_part_rows(self.config, ranges[0], table_sha256, done[-1].source_sha256)

    def _write_aggregates(self, kept: list[TaskRecord], targets: set[str]) -> list[str]:
        from augcli.aggregate import fold

        fragments = [fragment for record in kept for fragment in record.fragments]
        if not fragments:
            return []
        lines = []

        def announce(path: str) -> None:
            self.log.append({"name": os.path.relpath(path, self.output).replace(os.sep, "/")})

        made, errors = fold(self.config, fragments, plugin)
        self.result.errors += errors
        digests = {target: sha256(blob) for target, _, blob, _ in made}
        self._before_changing(digests, digests)  # an aggregate made again with the same bytes keeps the manifest true
        with announcing_writes(announce):
            for target, modality, blob, extra in made:
                source = extra.pop("source", target)
                source_hash = extra.pop("source_sha256", None) or sha256_file(self.config.input / source)
                # the same bytes as the file already there (a re-run): kept as it is, mtime too, and counted as reused
                if write_atomic(self.output / target, blob, unless_same=True):
                    self.result.originals_written += 1
                else:
                    self.aggregates_kept.add(target)
                    self.result.reused += 1
                targets.add(target)
                lines.append(ManifestRow(source, target, modality, None, None, [], digests[target], source_hash,
                                         extra={"aggregate": True, **extra}).to_json())
        return lines

    def _remove(self, stale: set[str]) -> int:
        """Delete files an earlier run (or a failed source of this one) left that this run does not list."""
        removed = 0
        root = self.output.resolve()
        for relpath in sorted(stale):
            if is_own_file(relpath):
                continue
            path = (self.output / relpath).resolve()
            if root in path.parents and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    @staticmethod
    def _uncovered(named: set[str], records: dict[str, TaskRecord]) -> set[str]:
        covered = {name for record in records.values() for name in record.files}
        return {name for name in named if name not in covered and not is_own_file(name)}


def _ranged_tables(tasks: list) -> dict[str, list]:
    """The range tasks of each table made in row ranges, by source, in plan order."""
    tables: dict[str, list] = {}
    for task in tasks:
        if task.rows is not None:
            tables.setdefault(task.item.relpath, []).append(task)
    return tables


def _unjoined(record: TaskRecord) -> bool:
    """A range of a table whose rows are still in their part file (the table is not joined yet)."""
    return any(name.startswith(PARTS_DIR + "/") for name in record.files)


def _writer_pids(output: Path) -> set[int]:
    pids = set()
    for path in run_files(output):
        with contextlib.suppress(ValueError):
            pids.add(int(path.name[len(RUN_PREFIX) : -len(RUN_SUFFIX)]))
    return pids


def _wait_until_gone(pids: set[int], timeout: float = 5.0) -> None:
    """Wait (a little) until these processes have exited, so that their run files stop changing."""
    deadline = time.monotonic() + timeout
    for pid in sorted(pids):
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):  # gone (or the PID is someone else's now)
                break
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":  # dead, not yet reaped
                        break
            except OSError:
                pass
            time.sleep(0.02)


def _write_failure(exc: OutputWriteError) -> str:
    return f"{FATAL_WRITE_ERRNOS.get(exc.errno, exc.strerror)} writing {exc.filename}"


def _remove_temp_files(output: Path) -> None:
    """Temp files of killed writers (only names augcli makes: ``.<name>.augcli-<pid>.tmp``)."""
    for folder, _dirs, names in os.walk(output):
        for name in names:
            if TEMP_NAME.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


def _refuse_foreign_folder(output: Path) -> None:
    """augcli never writes into, or deletes from, a folder it did not create. Empty folders in it (made
    ready for the run) hold nothing to lose."""
    if not output.is_dir() or not any(output.iterdir()):
        return
    ours = (MANIFEST_NAME, MANIFEST_NAME + PARTIAL_SUFFIX, STATE_DIR)
    if any((output / name).exists() for name in ours):
        return
    for folder, _dirs, names in os.walk(output):  # stops at the first folder holding anything but folders
        if names:
            example = os.path.relpath(os.path.join(folder, names[0]), output)
            raise DatasetError(
                f"output folder {output} already holds files that augcli did not write ({example}, and no "
                f"{MANIFEST_NAME}); choose a new or empty folder"
            )


def _listed(manifest: Path) -> dict[str, str]:
    """Outputs a manifest names, with the sha256 it gives each (a table's: its last sample's); unreadable
    lines are skipped."""
    names: dict[str, str] = {}
    try:
        with open(manifest, encoding="utf-8", errors="replace") as f:
            for text in f:
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    row = json.loads(text)
                    names[str(row["output"])] = str(row.get("sha256"))
    except OSError:
        pass
    return names


def _manifest_lines(records: Iterable[TaskRecord]) -> Iterator[str]:
    """The manifest rows of these records, in order; a table not joined yet is not there (its parts are)."""
    return (line for record in records if not _unjoined(record) for line in record.rows)


def _command(config: Any, overrides: dict[str, Any] | None) -> str | None:
    """``augcli run CONFIG [options]``: what makes this run again, and so finishes it."""
    if isinstance(config, (Config, dict)):
        return None
    import shlex

    words = ["augcli", "run", str(Path(config).resolve())]  # absolute: verify may be run from anywhere
    for key in ("seed", "copies", "output"):
        if (overrides or {}).get(key) is not None:
            words += [f"--{key}", str(overrides[key])]
    return shlex.join(words)


def _write_run_json(result: RunResult, started: datetime) -> None:
    from augcli.version import __version__

    record = {
        "schema_version": SCHEMA_VERSION,
        "augcli": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(result.config),
        "status": result.status,
        "config": result.config.to_plain(),
        "counts": result.counts(),
        "timings": {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(result.seconds, 3),
        },
        "errors": result.errors,
        "warnings": result.warning_list(),
        "fatal": result.fatal,
        "signal": SIGNAL_NAMES.get(result.signal) if result.signal else None,
        "manifest": result.manifest,
        "progress": {"sources": result.counts()["sources"], "complete": result.sources_complete},
        "command": result.command,
        "executor": result.executor,
    }
    write_atomic(result.config.output / RUN_NAME, (json.dumps(record, indent=2) + "\n").encode())
