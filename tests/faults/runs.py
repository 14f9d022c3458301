"""Start ``augcli`` as a real subprocess, and read and check the output folder it leaves."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.procs import TAG_VARIABLE, Proc, continue_group, descendants, run_until, survivors, tagged

MANIFEST = "manifest.jsonl"
RUN_JSON = "run.json"
STATE_DIR = ".augcli/"  # augcli's own folder in an output: lock, journal, per-process run files
#: Files augcli keeps for itself in an output folder besides the outputs it lists (rel's
#: augcli/manifest.py and augcli/journal.py): the manifest, run.json and the state folder.
BOOKKEEPING = frozenset({MANIFEST, RUN_JSON})
TMP_SUFFIX = ".tmp"  # contract 5: .<name>.augcli-<pid>.tmp in the output's own folder
ORPHAN_TIMEOUT = 5.0  # contract 5: the run's workers exit "within a few seconds" of the main process
RUN_TIMEOUT = 120.0  # no run of a few hundred 96x96 images takes this long, even on a loaded machine


@dataclass
class Run:
    """One ``python -m augcli ...`` process, in a session (and process group) of its own."""

    args: list[str]
    proc: subprocess.Popen
    tag: str
    logs: Path
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"augcli {' '.join(self.args)} still running after {timeout:.0f} s "
                                 f"(killed); stderr:\n{self.stderr[-3000:]}") from None
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
        return code

    @property
    def stdout(self) -> str:
        return (self.logs / "stdout").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.logs / "stderr").read_text(errors="replace")

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary on stdout."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"no JSON summary on stdout:\n{self.stdout[-2000:]}\nstderr:\n"
                                 f"{self.stderr[-2000:]}") from None

    def workers(self) -> list[Proc]:
        """The run's worker processes as of now: its children, forked (Linux) or loky's, but not the
        resource tracker (nor a process a worker started)."""
        return [p for p in descendants(self.pid) if p.ppid == self.pid and "resource_tracker" not in p.cmdline]

    def tree(self) -> list[Proc]:
        """Every process the run has started, as of now."""
        return descendants(self.pid)

    def survivors(self, recorded: list[Proc] = (), timeout: float = ORPHAN_TIMEOUT) -> list[Proc]:
        """Processes of this run alive after ``timeout`` s: tagged, ``recorded`` before a kill, or
        naming its output folder in their command line."""
        return survivors(self.tag, recorded, timeout, mentioning=[self.output] if self.output else [])

    @property
    def output(self) -> str | None:
        """The output folder: ``run ... --output DIR`` or ``verify DIR``."""
        if "--output" in self.args:
            return self.args[self.args.index("--output") + 1]
        return self.args[1] if self.args[0] == "verify" else None

    def resume(self) -> None:
        """SIGCONT the run's process group (stopped by ``wait_for_outputs``)."""
        continue_group(self.pid)

    def kill_everything(self) -> None:
        """Teardown: SIGKILL whatever is left of this run (only processes it started, by pid)."""
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        for proc in tagged(self.tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)

    def describe(self) -> str:
        return f"augcli {' '.join(self.args)} (exit {self.proc.returncode}); stderr:\n{self.stderr[-3000:]}"


def start(args: list[str], cwd: Path, logs: Path) -> Run:
    """``sys.executable -m augcli ARGS`` in ``cwd`` (which must not hold an ``augcli`` package:
    ``-m`` puts the current folder first on sys.path, before PYTHONPATH), stdout and stderr to
    files (a pipe nobody drains would stall the run, and orphans holding it would stall the test).
    """
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG_VARIABLE: tag, "NO_ALBUMENTATIONS_UPDATE": "1"}
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "augcli", *map(str, args)], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
    return Run([str(a) for a in args], proc, tag, logs)


@contextlib.contextmanager
def launcher(cwd: Path, logs: Path):
    """``launch(*args)`` starts ``augcli ARGS`` in ``cwd``; every process it started is killed on leaving."""
    runs: list[Run] = []

    def launch(*args) -> Run:
        run = start(list(args), cwd=cwd, logs=logs / f"run{len(runs)}")
        runs.append(run)
        return run

    try:
        yield launch
    finally:
        for run in runs:
            run.kill_everything()


def is_bookkeeping(name: str) -> bool:
    return name in BOOKKEEPING or name.startswith(STATE_DIR)


def is_output(name: str) -> bool:
    """A complete output file: not augcli's bookkeeping, not a temp file."""
    return not is_bookkeeping(name) and not name.endswith(TMP_SUFFIX)


def journal_text(out: Path) -> str:
    """Everything augcli journals in ``out`` (its state folder and manifest), as one text."""
    paths = [out / MANIFEST, *sorted((out / STATE_DIR).glob("*"))]
    return "\n".join(p.read_text(errors="replace") for p in paths if p.is_file())


def unjournaled(out: Path) -> list[str]:
    """Output files on disk that nothing in the journal names (at any instant: none)."""
    text = journal_text(out)
    return [name for name in output_files(out) if is_output(name) and json.dumps(name) not in text]


def output_files(out: Path) -> list[str]:
    """Relative paths of every file under ``out`` (hidden ones included), sorted."""
    found = []
    for folder, _dirs, names in os.walk(out):
        rel = os.path.relpath(folder, out)
        found += [name if rel == "." else f"{rel}/{name}" for name in names]
    return sorted(found)


def count_outputs(out: Path) -> int:
    """Complete output files under ``out`` (no bookkeeping, no temp files); cheap enough to poll."""
    return sum(map(is_output, output_files(out)))


def wait_for_outputs(run: Run, out: Path, n: int, timeout: float = RUN_TIMEOUT) -> int:
    """Wait until ``n`` output files exist and leave the run stopped there (SIGSTOP to its process
    group; ``run.resume()`` lets it go on), so that the fault lands mid-run: a run of these few
    hundred files takes well under a second, the last 15 % of it ~40 ms. Fails if the run ends first."""
    return run_until(run.pid, reached=lambda: (count := count_outputs(out)) >= n and count,
                     ended=lambda: run.proc.poll() is not None, timeout=timeout,
                     head_start=lambda: count_outputs(out) >= n // 2)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSONL manifest or journal; a torn last line (no newline) is dropped."""
    if not path.is_file():
        return []
    text = path.read_text()
    lines = text.split("\n")
    if lines and lines[-1] != "":
        lines = lines[:-1]  # torn: a crash mid-write
    return [json.loads(line) for line in lines if line.strip()]


def identities(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every output file: a file renamed into place gets a new pair."""
    result = {}
    for name in output_files(out):
        try:
            st = (out / name).stat()
        except FileNotFoundError:  # removed since the listing (a live run)
            continue
        result[name] = (st.st_ino, st.st_mtime_ns)
    return result


def listed_files_match(out: Path, rows: list[dict]) -> list[str]:
    """Problems with ``rows``: each must name a file under ``out`` holding its recorded sha256."""
    problems = []
    for row in rows:
        path = out / row["output"]
        if not path.is_file():
            problems.append(f"listed but missing: {row['output']}")
        elif file_sha256(path) != row["sha256"]:
            problems.append(f"listed with another sha256: {row['output']}")
    return problems


def complete_output_problems(out: Path, reference_rows: list[dict] | None = None) -> list[str]:
    """Everything wrong with a folder a run finished: temp files, listed files missing or changed,
    files nobody listed, and (given a clean run's manifest) any difference from that run."""
    rows = read_rows(out / MANIFEST)
    problems = [] if rows else [f"no rows in {out / MANIFEST}"]
    present = output_files(out)
    problems += [f"temp file left: {name}" for name in present if name.endswith(TMP_SUFFIX)]
    problems += listed_files_match(out, rows)
    listed = {row["output"] for row in rows}
    problems += [f"on disk but not listed: {name}" for name in present if is_output(name) and name not in listed]
    if reference_rows is not None:
        problems += differences(rows, reference_rows)
    return problems


def differences(rows: list[dict], reference: list[dict]) -> list[str]:
    """How a manifest differs from a clean run's (both in plan order)."""
    if rows == reference:
        return []
    problems = [f"{len(rows)} manifest rows, the clean run has {len(reference)}"] if len(rows) != len(reference) else []
    for i, (row, ref) in enumerate(zip(rows, reference, strict=False)):
        if row != ref:
            keys = sorted(k for k in set(row) | set(ref) if row.get(k) != ref.get(k))
            problems.append(f"manifest row {i} ({ref.get('output')}) differs from the clean run in {keys}: "
                            + "; ".join(f"{k}: {row.get(k)!r} != {ref.get(k)!r}" for k in keys[:3]))
            if len(problems) > 5:
                break
    return problems
