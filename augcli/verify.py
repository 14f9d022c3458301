"""Re-derive outputs from manifest.jsonl + run.json and check every file against its recorded hash."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from augcli.config import Config
from augcli.dataset import discover, walk_files
from augcli.errors import EXIT_ITEMS_FAILED, EXIT_OK, DatasetError, ItemError
from augcli.io import capture_writes, file_sha256, read_file, sha256, sha256_file
from augcli.journal import LOCK_NAME
from augcli.lock import OutputLock
from augcli.manifest import MANIFEST_NAME, RUN_NAME, STATE_DIR, is_own_file, read_manifest
from augcli.modalities.registry import library_versions, load_config, plugin
from augcli.plan import Task, build_plan, prefetch_seeds
from augcli.runner import fan_out, long_lived, message_list, thawed_after


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the output folder
    problem: str  # see PROBLEMS
    detail: str

    def __str__(self) -> str:
        return f"{self.problem}: {self.path}: {self.detail}"


#: Each kind of problem, and what many of them are called (``... and 7,190 more changed files``).
PROBLEMS = {
    "outside the folder": "rows naming a file outside the folder",
    "damaged row": "damaged rows",
    "missing": "missing files",
    "stray": "stray files",
    "changed": "changed files",
    "unreadable": "unreadable files",
    "source missing": "outputs whose source is missing",
    "source changed": "outputs whose source changed",
    "source unreadable": "outputs whose source cannot be read",
    "regenerates differently": "outputs that regenerate differently",
}
#: How the last run ended, when it did not finish: verify says so and judges only what it can.
UNFINISHED = ("running", "interrupted", "failed", "stopped")


@dataclass
class VerifyReport:
    files: int  # files the manifest lists
    hashed: int = 0  # of those, files whose bytes were hashed (all, or the --sample)
    regenerated: int = 0  # augmented outputs re-derived from their source and seed
    version_changes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)  # library message -> sources that emitted it (as run.json)
    #: The last run did not finish: one line saying how it ended, how far it got and what finishes it.
    #: Then only the manifest's rows are checked against the files (no re-deriving, no strays).
    unfinished: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_ITEMS_FAILED if self.findings or self.unfinished else EXIT_OK

    @property
    def status(self) -> str:
        return "unfinished" if self.unfinished else "problems" if self.findings else "all match"

    def summary(self, output: str | os.PathLike) -> dict:
        """The machine-readable report (``augcli verify --json``)."""
        return {
            "output": str(output),
            "status": self.status,
            "exit_code": self.exit_code,
            "unfinished": self.unfinished,
            "counts": {"manifest_entries": self.files, "checked": self.hashed, "re_derived": self.regenerated,
                       "problems": len(self.findings)},
            "problems": [{"path": f.path, "problem": f.problem, "detail": f.detail} for f in self.findings],
            "version_changes": self.version_changes,
            "warnings": message_list(self.warnings),
        }


def verify(output_dir: str | os.PathLike, sample: int | None = None, workers: int | None = None) -> VerifyReport:
    """Check an output folder against its manifest; ``sample`` re-derives a deterministic subset.

    Outputs are regenerated in memory (nothing is written), each source read and decoded once
    for all its checked outputs, on worker processes as a run would use.
    """
    output = Path(output_dir).resolve()
    lock = OutputLock.shared(output / STATE_DIR / LOCK_NAME, output)  # not while a run writes it
    try:
        with thawed_after():
            return _verify(output, sample, workers)
    finally:
        if lock is not None:
            lock.release()


def _verify(output: Path, sample: int | None, workers: int | None) -> VerifyReport:
    run = _read_run(output)
    if run.get("status") in UNFINISHED:
        return _verify_unfinished(output, run)
    with long_lived():  # the records, the config, the files found and the plan: held to the end
        report, work, config, cause, failed, chosen = _prepare(output, sample, run)
    n_workers = workers or config.n_workers([task for task, _, _ in work if task is not None])
    for findings, regenerated, messages in fan_out(_verify_chunk, work, n_workers, config, str(output), cause,
                                                   failed):
        report.findings += findings
        report.regenerated += regenerated
        report.warnings.update(messages)
    report.hashed = len(chosen)
    report.findings.sort(key=lambda f: (f.path, f.problem))
    return report


def _prepare(output: Path, sample: int | None, run: dict) -> tuple[VerifyReport, list, Config, str, set, list[dict]]:
    """The report of what the listing shows (missing and stray files), and the work to re-derive the rest."""
    rows = _read_manifest(output)
    try:
        config = load_config(run["config"])
    except Exception as exc:  # a recorded config that no longer loads: its input moved, say
        raise DatasetError(f"cannot re-create the run recorded in {output / RUN_NAME}: {exc}") from None

    report = VerifyReport(files=len(rows), version_changes=_version_changes(run.get("libraries", {}), config))
    rows, report.findings = _screen(rows, output, config.input)
    listed = {row["output"] for row in rows}
    present = set(walk_files(output, include_hidden=True))
    report.findings += [Finding(p, "missing", "listed in the manifest but not on disk")
                        for p in sorted(listed - present)]
    report.findings += [Finding(p, "stray", "on disk but not in the manifest")
                        for p in sorted(present - listed) if not is_own_file(p)]

    chosen = [row for row in _sample(rows, sample) if row["output"] in present]
    items = {item.relpath: item for item in discover(config).items}
    groups: dict[str, list[dict]] = {}
    for row in chosen:
        if row.get("aggregate"):  # made from many sources (COCO JSON, soft_labels.csv, ...): its hash
            if sha256_file(output / row["output"]) != row["sha256"]:  # None: gone or unreadable since listed
                report.findings.append(Finding(row["output"], "changed", "its sha256 differs from the manifest"))
        else:  # by source, so each source is read and decoded once
            groups.setdefault(row["source"], []).append(row)
    # The plan of every discovered item, as the run made it: balance and mix depend on the whole dataset.
    # A table made in row ranges is regenerated whole, as one task.
    tasks = {task.item.relpath: task if task.rows is None else replace(task, rows=None)
             for task in build_plan(config, list(items.values())).tasks if task.first and task.item.relpath in groups}
    prefetch_seeds(tasks.values())  # all at once, as a run does (one vectorised call, not one per source)
    work = [(_cut(tasks[source], source_rows) if source in tasks else None, source, source_rows)
            for source, source_rows in groups.items()]
    failed = {error.get("source") for error in run.get("errors", [])}
    return report, work, config, _likely_cause(report.version_changes), failed, chosen


def _read_run(output: Path) -> dict:
    """run.json: how the last run ended, read before anything is judged."""
    if not (output / RUN_NAME).is_file():
        raise DatasetError(f"{output} is not an augcli output folder: it has no {RUN_NAME}")
    try:
        run = json.loads((output / RUN_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the records in {output}: {exc}") from None
    if not isinstance(run, dict):
        raise DatasetError(f"cannot read the records in {output}: {RUN_NAME} is not a JSON object")
    return run


def _read_manifest(output: Path, required: bool = True) -> list:
    if not (output / MANIFEST_NAME).is_file():
        if not required:
            return []
        raise DatasetError(f"{output} is not an augcli output folder: it has no {MANIFEST_NAME}")
    try:
        return read_manifest(output / MANIFEST_NAME)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the records in {output}: {exc}") from None


def _screen(rows: list, output: Path, input_dir: Path | None) -> tuple[list[dict], list[Finding]]:
    """The rows verify may act on, and findings for the others: a row that is not a record (an edited
    manifest), or whose ``output`` (or ``source``) is a path outside its folder, which is never opened."""
    good, findings = [], []
    for number, row in enumerate(rows, 1):
        output_name = row.get("output") if isinstance(row, dict) else None
        if not isinstance(output_name, str) or not isinstance(row.get("sha256"), str) or not isinstance(
                row.get("source", ""), str):
            findings.append(Finding(f"{MANIFEST_NAME} line {number}", "damaged row",
                                    "not a record with an output path and a sha256: the manifest was edited or "
                                    "damaged; run the config again to rewrite it"))
        elif not _inside(output, output_name, links=True):
            findings.append(Finding(output_name, "outside the folder", f"the manifest names a file outside {output}; "
                                    "it was not read (the manifest was edited or damaged)"))
        elif input_dir is not None and "source" in row and not _inside(input_dir, row["source"]):
            findings.append(Finding(output_name, "outside the folder",
                                    f"its source {row['source']!r} is outside the input folder {input_dir}; it "
                                    "was not read (the manifest was edited or damaged)"))
        else:
            good.append(row)
    return good, findings


def _inside(root: Path, relpath: str, links: bool = False) -> bool:
    """Whether ``relpath`` names a file below ``root`` as written (not absolute, no ``..``) and, with
    ``links``, once a symlink there is followed (a folder that is a symlink is not walked: such a file is
    missing). Lexical first: an lstat per row, not a resolve (9,000 rows: 1.9 s)."""
    if not relpath or "\0" in relpath or os.path.isabs(relpath) or ".." in relpath.replace(os.sep, "/").split("/"):
        return False
    path = os.path.join(root, relpath)
    if links and os.path.islink(path):
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            return False
        return root.resolve() in resolved.parents
    return True


def _verify_unfinished(output: Path, run: dict) -> VerifyReport:
    """The last run did not finish: what is listed is judged by its hashes (true by construction, unless
    edited since), and nothing else: files of the earlier run still on disk, or re-deriving outputs of a
    config whose run did not end, would only mislead."""
    rows = _read_manifest(output, required=False)
    config = run.get("config") if isinstance(run.get("config"), dict) else {}
    report = VerifyReport(files=len(rows))
    rows, report.findings = _screen(rows, output, Path(config["input"]) if isinstance(config.get("input"), str)
                                    else None)
    for row in rows:
        path = output / row["output"]
        if not path.exists() and not path.is_symlink():
            report.findings.append(Finding(row["output"], "missing", "listed in the manifest but not on disk"))
            continue
        found = _read_output(str(path))
        if not _matches(found, row["sha256"], None) and "row" not in row and "line" not in row:
            report.findings.append(_mismatch(row["output"], found, "its sha256 differs from the manifest: "
                                                                   "it was modified"))
    report.hashed = len(rows)
    report.findings.sort(key=lambda f: (f.path, f.problem))
    report.unfinished = _how_it_ended(run, report.files, output)
    return report


def _how_it_ended(run: dict, listed: int, output: Path) -> str:
    """One line: how the last run ended, when, how far it got, and the command that finishes it."""
    timings = run.get("timings") if isinstance(run.get("timings"), dict) else {}
    progress = run.get("progress") if isinstance(run.get("progress"), dict) else {}
    done, total = progress.get("complete"), progress.get("sources")
    status = run.get("status")
    if status == "running":
        how = (f"the last run (started {timings.get('started', 'at an unknown time')}) did not finish: it was killed "
               "(kill -9, out of memory, a power cut?)")
        far = (f"manifest.jsonl lists what it kept ({listed:,} rows); the journal in {output / STATE_DIR} has the "
               "rest of its progress")
    else:
        when = timings.get("finished", "at an unknown time")
        if status == "interrupted":
            how = f"the last run was interrupted by {run.get('signal') or 'a signal'} at {when}"
        elif status == "failed":
            how = f"the last run stopped at {when}: {run.get('fatal') or 'it could not write'}"
        else:
            how = f"the last run stopped at {when} at its first failed source (on_error: fail)"
        far = (f"{done:,} of {total:,} sources are complete ({listed:,} manifest rows)"
               if isinstance(done, int) and isinstance(total, int) else f"{listed:,} manifest rows are complete")
    command = run.get("command") or "augcli run CONFIG"
    return f"{how}; {far}; finish it with: {command}"


def _sample(rows: list[dict], n: int | None) -> list[dict]:
    if n is None or n >= len(rows):
        return rows
    import numpy as np

    picked = np.random.default_rng(0).choice(len(rows), size=n, replace=False)
    return [rows[i] for i in sorted(picked)]


def _version_changes(recorded: dict[str, str], config: Config) -> list[str]:
    now = library_versions(config)
    return [f"{name} {recorded[name]} (run) vs {now[name]} (now)"
            for name in sorted(recorded) if name in now and recorded[name] != now[name]]


def _likely_cause(version_changes: list[str]) -> str:
    if version_changes:
        return "likely cause: library versions differ from the run's: " + "; ".join(version_changes)
    return "the libraries are the run's versions, so the output is not reproducible here; please report it"


def _cut(task: Task, rows: list[dict]) -> Task:
    """The plan's task cut down to the outputs in ``rows`` where outputs are files of their own
    (images, audio), so that ``--sample`` regenerates only what it checks. Text keeps its whole
    task: a line's or a table row's seed depends on its copy's place in the task."""
    if len(rows) == len(task.outputs) + (task.original is not None):  # every output checked: nothing to cut
        return task
    if task.item.modality == "text" or any("row" in r or "line" in r for r in rows):
        return task
    wanted = {r["output"] for r in rows}
    kept = [(out, seed) for out, seed in zip(task.outputs, task.seeds, strict=True) if out in wanted]
    return replace(task, original=task.original if task.original in wanted else None,
                   outputs=tuple(out for out, _ in kept), seeds=tuple(seed for _, seed in kept))


def _verify_chunk(work: list[tuple[Task | None, str, list[dict]]], config: Config, output: str, cause: str,
                  failed: set[str]) -> list[tuple[list[Finding], int]]:
    from augcli.runner import LibraryMessages, _prepare_worker_process

    _prepare_worker_process()  # the run's worker settings (OpenCV threads, malloc)
    results = []
    # The files on disk are read on a thread beside the regeneration (file reads and OpenCV both
    # release the GIL): the one cost a run does not have is then off the critical path.
    # Library warnings and C libraries' stderr lines are caught as the run catches them (the run
    # reported them already): they are counted in the report, not printed over verify's own lines.
    on_disk = _ReadAhead([os.path.join(output, r["output"]) for _, _, rows in work for r in rows], output)
    with LibraryMessages.caught() as messages:
        for task, source, rows in work:
            if task is None or all("sidecar_of" in r for r in rows):
                # not a source the run augmented or placed (a rewritten metadata.csv, a source gone
                # since) or a copied sidecar: the files and the source are checked by their hashes
                findings, regenerated = [f for r in rows for f in _check_file_hashes(r, config, on_disk)], 0
            else:
                findings, regenerated = _regenerate_and_compare(task, rows, config, on_disk, cause, source in failed)
            results.append((findings, regenerated, messages.take()))
    return results


COMPARE_BYTES_UP_TO = 16 << 20  # a smaller output is compared byte for byte with its regenerated bytes


class _ReadAhead:
    """The files of a chunk read in order on a thread of their own, ahead of the regeneration that needs
    them (file reads and OpenCV both release the GIL). One thread per chunk, not a task per file: handing
    each 5 KB file between threads cost more than reading it."""

    def __init__(self, paths: list[str], output: str):
        self._root = os.path.join(output, "")
        self._wanted = dict.fromkeys(paths)  # a table's rows share their file: read once
        self._read: dict[str, bytes | str | Unreadable] = {}
        self._ready = threading.Condition()
        threading.Thread(target=self._read_all, name="augcli-verify-reads", daemon=True).start()

    def _read_all(self) -> None:
        for path in self._wanted:
            try:
                found = _read_output(path)
            except Exception as exc:  # never leave a reader waiting (out of memory, say): unreadable
                found = Unreadable(type(exc).__name__)
            with self._ready:
                self._read[path] = found
                self._ready.notify()

    def __getitem__(self, name: str) -> bytes | str | Unreadable:
        """The file's bytes (or sha256, or why it cannot be read: see ``_read_output``), waiting if needed."""
        path = self._root + name
        if path not in self._wanted:
            return _read_output(path)
        with self._ready:
            while path not in self._read:
                self._ready.wait()
            return self._read[path]


class Unreadable:
    """What ``_read_output`` gives for a file it cannot read, and why."""

    def __init__(self, reason: str):
        self.reason = reason


def _read_output(path: str) -> bytes | str | Unreadable:
    """A file on disk as verify compares it: its bytes (compared with the regenerated ones: cheaper than
    hashing them), the sha256 of a large one, or why it cannot be read."""
    try:
        data = read_file(path) if os.path.getsize(path) <= COMPARE_BYTES_UP_TO else None
        return data if data is not None and len(data) <= COMPARE_BYTES_UP_TO else file_sha256(path)
    except OSError as exc:  # gone since listed, permission denied, an I/O error
        return Unreadable(exc.strerror or str(exc))
    except ItemError as exc:  # not a regular file
        return Unreadable(str(exc).split(":")[0])


def _mismatch(name: str, found: bytes | str | Unreadable | None, changed: str) -> Finding:
    if isinstance(found, Unreadable):
        return Finding(name, "unreadable", f"cannot read it ({found.reason}): check its permissions and the disk")
    return Finding(name, "changed", changed)


def _matches(found: bytes | str | Unreadable | None, expected_sha256: str | None, regenerated: bytes | None) -> bool:
    """Whether a file read by ``_read_output`` is the one the manifest records (``expected_sha256``),
    given the regenerated bytes, whose own sha256 is that one, when there are some."""
    if found is None or isinstance(found, Unreadable) or expected_sha256 is None:
        return False
    if isinstance(found, bytes):
        return found == regenerated if regenerated is not None else sha256(found) == expected_sha256
    return found == expected_sha256


def _check_file_hashes(row: dict, config: Config, on_disk: _ReadAhead) -> list[Finding]:
    found = on_disk[row["output"]]
    if not _matches(found, row["sha256"], None):
        return [_mismatch(row["output"], found, "its sha256 differs from the manifest: it was modified")]
    try:
        source_hash = file_sha256(os.path.join(config.input, row["source"]))
    except (OSError, ItemError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).split(":")[0]
        return [Finding(row["output"], "source missing", f"cannot read {row['source']}: {reason}")]
    if "source_sha256" in row and source_hash != row["source_sha256"]:
        return [Finding(row["output"], "source changed", f"{row['source']} is not the file the run read")]
    return []


def _key(row: dict) -> tuple:
    """What a manifest row is about: a file, or a sample (table row, line) within one."""
    return row["output"], row.get("row"), row.get("line")


def _regenerate_and_compare(task: Task, rows: list[dict], config: Config, on_disk: _ReadAhead, cause: str,
                            failed_in_run: bool) -> tuple[list[Finding], int]:
    """Regenerate a source's outputs in memory with the run's own code and compare: a sample whose
    seed or hash regenerates differently means the run cannot be reproduced here; samples that all
    match but a file whose bytes differ mean the file was changed after the run."""
    item = task.item
    fresh: list = []
    error = None
    with capture_writes() as written:
        try:
            plugin(item.modality).process(task, config, fresh, [])
        except Exception as exc:  # a library failing on one source: a finding, never a crash
            error = _reason(exc)
    if fresh and fresh[0].source_sha256 != rows[0].get("source_sha256", fresh[0].source_sha256):
        return [Finding(r["output"], "source changed", f"{item.relpath} is not the file the run read")
                for r in rows], 0
    if error and not fresh:
        if failed_in_run:  # the run failed on it too: the files it did write are checked by hash
            return [f for r in rows if "row" not in r and "line" not in r
                    for f in _check_file_hashes(r, config, on_disk)], 0
        return [Finding(r["output"], "source unreadable", error) for r in rows], 0
    regenerated = {(r.output, r.extra.get("row"), r.extra.get("line")): (r.seed, r.sha256) for r in fresh}
    findings = []
    for r in rows:
        again = regenerated.get(_key(r))
        if again is None and error and failed_in_run:
            continue  # written before the run's failure and not regenerated: checked by hash below
        if again != (r["seed"], r["sha256"]):
            what = "it" if r.get("row") is None and r.get("line") is None else f"sample {_key(r)[1:]}"
            why = f"re-deriving it fails: {error}" if again is None and error else (
                f"re-deriving {what} from its source and seed does not give what the manifest records; {cause}")
            findings.append(Finding(r["output"], "regenerates differently", why))
    if not findings:
        for name in sorted({r["output"] for r in rows}):
            sample_rows = any("row" in r or "line" in r for r in rows if r["output"] == name)
            # the regenerated bytes: every sample regenerated as recorded, so they are what the run wrote
            data = written.get(os.path.join(str(config.output), name))
            if sample_rows:  # the manifest hashes each sample: the file's own bytes are the regenerated ones
                expected = None if data is None else sha256(data)
            else:
                expected = next(r["sha256"] for r in rows if r["output"] == name)
            found = on_disk[name] if expected is not None else None
            if expected is not None and not _matches(found, expected, data):
                findings.append(_mismatch(name, found, "its sha256 differs from the manifest: "
                                                       "the file was modified after the run"))
    return findings, len({_key(r) for r in rows if r["copy"] is not None} & set(regenerated))


def _reason(exc: Exception) -> str:
    """As the run words it (runner.process_task)."""
    from augcli.errors import ItemError

    if isinstance(exc, ItemError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc.strerror or exc)
    return f"{type(exc).__name__}: {exc}"
