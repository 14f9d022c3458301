"""The journal: what is on disk in an output folder, true at every instant, and what may be reused.

Files, all under ``OUTPUT/.augcli/`` (augcli's own; verify ignores them):

- ``run-<pid>.jsonl``: appended by each process of a running run (workers and the main
  process; a cluster's worker's is ``run-<host>-<pid>.jsonl``), one JSON line per event, written
  with O_APPEND straight to the kernel:
  ``{"chunk": [sources], "names": [outputs]}`` when a worker takes a chunk (naming every file the plan
  gives its sources, which it then makes in that order), ``{"name": output}`` right *before* any other
  file is renamed into place (so a file that reaches its final name is always named), and
  ``{"task": record}`` once every file of the task is in place (its manifest rows, the
  sha256 of each file it wrote, its aggregate fragments, or its error). The source a worker was
  making when it died is the first one of its last chunk without a record.
- ``journal.jsonl``: the compacted state, rewritten atomically at the start of a run (merging
  the run files a crashed run left) and at its end: ``{"named": [...]}`` (files an earlier run
  may have left that no record covers) and one ``{"task": record}`` per source whose outputs
  are on disk, in plan order.

A killed process can tear only the last line of its own run file; unreadable lines are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augcli.errors import OutputWriteError
from augcli.io import write_atomic
from augcli.manifest import STATE_DIR, compact_json

JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"
RUN_PREFIX, RUN_SUFFIX = "run-", ".jsonl"


@dataclass
class TaskRecord:
    """The outcome of one task (one source): journaled by the worker, returned to the main process."""

    source: str
    fingerprint: str = ""
    source_sha256: str | None = None
    rows: Sequence[str] = field(default_factory=list)  # manifest lines, serialized in the worker (spooled in main)
    files: dict[str, str] = field(default_factory=dict)  # every file written -> sha256 of its bytes
    fragments: list[dict[str, Any]] = field(default_factory=list)
    n_originals: int = 0
    dropped: int = 0  # augmented samples left out because they equal their source (drop_unchanged)
    error: str | None = None  # the item failed: recorded, the run goes on
    fatal: str | None = None  # the run cannot go on (disk full): one line naming the file
    warnings: list[str] = field(default_factory=list)  # library warnings and stderr lines, deduplicated
    #: Its journal line, as the worker wrote it to its run file when it had no warnings: the run's end writes
    #: these bytes instead of encoding every record again (~6 us a record, at the end, in the main process).
    #: Not a part of the record: whoever changes a record after it was journaled sets it to None. Kept only
    #: while its rows are in memory (the spool's first 8 MB of rows: ~17 MB of lines at 20,000 images).
    line: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.fatal is None

    def to_plain(self) -> dict[str, Any]:
        """Its fields, for JSON at once (shallow: ``asdict``'s deep copy cost ~35 us a record)."""
        plain = {name: getattr(self, name) for name in _RECORD_FIELDS}
        if not isinstance(self.rows, list):
            plain["rows"] = list(self.rows)
        return plain

    def journal_line(self) -> bytes:
        """``{"task": record}`` for the journal, without the library messages (a library may warn once per
        process: the same outputs, the same bytes)."""
        if self.line is not None:
            return self.line
        return line({"task": {**self.to_plain(), "warnings": []}})

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> TaskRecord:
        return cls(**{k: data[k] for k in _RECORD_FIELDS if k in data})


_RECORD_FIELDS = tuple(name for name in TaskRecord.__dataclass_fields__ if name != "line")


class RowSpool:
    """The manifest lines of the main process's records, out of memory: past the first 8 MB, appended to
    an unnamed temporary file (gone when the process is) and read back in order when the manifest and
    journal are written. A run's memory then grows with its sources, not with its rows (a table of a
    million rows)."""

    HOLD = 8 << 20  # the first HOLD characters of rows stay in memory: most runs never spool

    def __init__(self, folder: Path, hold: int | None = None):
        self.folder = folder
        self.hold = self.HOLD if hold is None else hold
        self._held = 0
        self._file: Any = None
        self._end = 0
        self.failed = False  # a write failed (disk full): the rest stays in memory

    def put(self, rows: Sequence[str]) -> Sequence[str]:
        if not isinstance(rows, list) or not rows:
            return rows  # already spooled, or nothing to hold
        if self._held < self.hold or self.failed:
            self._held += sum(map(len, rows))
            return rows
        data = "".join(row + "\n" for row in rows).encode("utf-8")  # a JSON line never holds a raw newline
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self.folder, prefix="rows-")  # noqa: SIM115 (closed by close)
            written = os.pwrite(self._file.fileno(), data, self._end)
        except OSError:
            written = -1
        if written != len(data):  # a full disk: memory is only slower, never wrong; the records stay whole
            self.failed = True
            self._held += sum(map(len, rows))
            return rows
        rows_ref = SpooledRows(self, self._end, len(data), len(rows))
        self._end += len(data)
        return rows_ref

    def read(self, offset: int, size: int) -> list[str]:
        return os.pread(self._file.fileno(), size, offset).decode("utf-8").split("\n")[:-1]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SpooledRows(Sequence):
    """A record's manifest lines in a RowSpool; ``shift`` is added to each line's ``row`` (a table's range
    once its table is joined without the rows drop_unchanged left out)."""

    def __init__(self, spool: RowSpool, offset: int, size: int, count: int, shift: int = 0):
        self.spool, self.offset, self.size, self.count, self.shift = spool, offset, size, count, shift

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        lines = self.spool.read(self.offset, self.size)
        return iter(lines if not self.shift else [shifted_row(line, self.shift) for line in lines])

    def __getitem__(self, index):  # type: ignore[override]
        return list(self)[index]

    def shifted(self, by: int) -> SpooledRows:
        return SpooledRows(self.spool, self.offset, self.size, self.count, self.shift + by)


def shift_rows(rows: Sequence[str], offset: int) -> Sequence[str]:
    """Rows with ``offset`` added to each one's ``row``: lazily for spooled rows."""
    if isinstance(rows, SpooledRows):
        return rows.shifted(offset)
    return [shifted_row(line, offset) for line in rows]


def shifted_row(line: str, offset: int) -> str:
    """A manifest line with ``offset`` added to its ``row`` (its place in its table)."""
    row = json.loads(line)
    if "row" in row:
        row["row"] += offset
    return compact_json(row)


def state_dir(output: Path) -> Path:
    return output / STATE_DIR


def line(event: dict[str, Any]) -> bytes:
    return (compact_json(event) + "\n").encode()


class RunLog:
    """One process's append-only run file. Each event is one ``write`` on an O_APPEND descriptor:
    in the kernel (safe from a killed process) as soon as it returns."""

    def __init__(self, output: Path):
        self.path = state_dir(output) / f"{RUN_PREFIX}{_host_tag[0]}{os.getpid()}{RUN_SUFFIX}"
        self._fd: int | None = None
        self._torn = False  # a write failed part-way: the file ends in a partial line, nothing more is added

    def reopen_if_removed(self) -> None:
        """A worker outlives a run (loky reuses it): if the run's end removed this file, start a new one."""
        if self._fd is not None:
            try:
                removed = os.fstat(self._fd).st_nlink == 0
            except OSError:
                removed = True
            if removed:
                self.close()

    def append(self, event: dict[str, Any]) -> bytes:
        """Write the event's line; return it."""
        data = line(event)
        try:
            if self._torn:  # a line after a torn one would be glued to it, and both lost
                raise OSError(28, "No space left on device")
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                written = os.write(self._fd, data)
            except OSError:
                self._torn = True  # part of it may be there
                raise
            if written != len(data):  # a short write: the disk filled up under us
                self._torn = True
                raise OSError(28, "No space left on device")
        except OSError as exc:
            raise OutputWriteError(exc.errno, exc.strerror or str(exc), str(self.path)) from exc
        return data

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._torn = False  # the next line, if any, starts a new file (a worker outliving a run)


_process_logs: dict[tuple[str, int], RunLog] = {}
_host_tag = [""]  # a cluster's worker process: "<host>-", for workers of several machines in one output folder


def name_run_files_by_host() -> None:
    """This process is a cluster's worker: its run files are ``run-<host>-<pid>.jsonl``."""
    import socket

    _host_tag[0] = socket.gethostname().replace("/", "_") + "-"


def process_log(output: str, pid: int) -> RunLog:
    """The run file of this process for this output (a worker keeps it open across tasks)."""
    if (output, pid) not in _process_logs:
        _process_logs[output, pid] = RunLog(Path(output))
    return _process_logs[output, pid]


def close_process_log(output: str, pid: int) -> None:
    """The main process, at the end of a run it made tasks for itself (one worker): close its run file."""
    log = _process_logs.pop((output, pid), None)
    if log is not None:
        log.close()


def forget_inherited_logs() -> None:
    """In a forked child: the parent's run files are the parent's; close the child's copies of them."""
    for log in _process_logs.values():
        log.close()
    _process_logs.clear()


@dataclass
class JournalState:
    records: dict[str, TaskRecord] = field(default_factory=dict)  # source -> its latest record
    named: set[str] = field(default_factory=set)  # every output relpath that some event names
    held: set[str] = field(default_factory=set)  # sources handed to a worker (in run files) ...
    begun: set[str] = field(default_factory=set)  # ... begun (a "begin" event of earlier versions, too) ...
    finished: dict[str, TaskRecord] = field(default_factory=dict)  # ... and finished, with or without error
    dropped_lines: int = 0
    last_chunk: list[str] = field(default_factory=list)  # of the run file being read


def run_files(output: Path) -> list[Path]:
    folder = state_dir(output)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(RUN_PREFIX) and p.name.endswith(RUN_SUFFIX))


def read_state(output: Path, include_journal: bool = True, names_only: bool = False,
               spool: RowSpool | None = None) -> JournalState:
    """The journal and then every run file, later events winning; ``names_only``: only ``named`` (the
    records are not kept, so a big run's rows are not held a second time); ``spool``: the records' rows
    go there instead of memory."""
    state = JournalState()
    paths = ([state_dir(output) / JOURNAL_NAME] if include_journal else []) + run_files(output)
    for path in paths:
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed below; read line by line, never whole)
        except FileNotFoundError:
            continue
        except OSError:
            continue
        state.last_chunk = []
        with f:
            for raw in f:
                if raw.strip():
                    _apply(state, raw, names_only, spool)
        # a process makes its chunk's sources in order: the first without a record is the one it was making
        begun = next((source for source in state.last_chunk if source not in state.finished), None)
        if begun is not None and not names_only:
            state.begun.add(begun)
    return state


def _apply(state: JournalState, raw: bytes, names_only: bool = False, spool: RowSpool | None = None) -> None:
    try:
        event = json.loads(raw)
        if "name" in event:
            state.named.add(str(event["name"]))
        elif "begin" in event:
            state.begun.add(str(event["begin"]))
        elif "chunk" in event:
            state.last_chunk = [str(source) for source in event["chunk"]]
            state.held.update(state.last_chunk)
            state.named.update(str(name) for name in event.get("names", ()))
        elif "named" in event:
            state.named.update(str(n) for n in event["named"])
        elif "task" in event:
            record = TaskRecord.from_plain(event["task"])
            state.named.update(record.files)
            if names_only:
                return
            if spool is not None:
                record.rows = spool.put(record.rows)
            state.finished[record.source] = record
            if record.ok:
                state.records[record.source] = record
            else:
                state.records.pop(record.source, None)
        else:
            raise ValueError("unknown event")
    except (ValueError, TypeError, KeyError, AttributeError):
        state.dropped_lines += 1  # a torn last line of a killed process, or damage: costs a reuse, never a file


def write_journal(output: Path, records: list[TaskRecord], named: set[str]) -> None:
    """Replace journal.jsonl (atomically) with this state; then the run files are redundant."""
    def pieces() -> Iterator[bytes]:  # streamed in pieces of about 1 MB: the journal of a big run is never held whole
        if named:
            yield line({"named": sorted(named)})
        batch: list[bytes] = []
        size = 0
        for record in records:
            batch.append(record.journal_line())
            size += len(batch[-1])
            if size >= 1 << 20:
                yield b"".join(batch)
                batch, size = [], 0
        yield b"".join(batch)

    write_atomic(state_dir(output) / JOURNAL_NAME, pieces())


def remove_run_files(output: Path, keep: RunLog | None = None) -> None:
    for path in run_files(output):
        if keep is not None and path == keep.path:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
