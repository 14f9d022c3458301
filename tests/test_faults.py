"""Fault injection: real `augcli run` processes, real signals, real files (issue 8, contract 5).

Each test starts `python -m augcli run` on 300 small real photos (3 labels, a Rotate and a flip,
2 copies plus the originals: 900 files, 2 workers), hits it at a chosen moment (kill -9 of the
main process early, midway, late and during a rerun over a complete output; kill -9 of one
worker, and of every worker while one sends its results; Ctrl-C to the process group at
start-up, once, and again and again; SIGTERM; a second run into the same folder; a full disk),
then checks what the contract promises: the exit code, no traceback, no process of the run left
alive, and that the next run finishes the job with exactly the files and manifest of a clean
uninterrupted run, no temp file, nothing unlisted, and `augcli verify` passing. Moments are
chosen by polling /proc and the output folder, never by sleeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.faults.procs import poll, read_proc, run_until, stop_group, wchan
from tests.faults.runs import (
    MANIFEST,
    RUN_JSON,
    RUN_TIMEOUT,
    Run,
    complete_output_problems,
    count_outputs,
    differences,
    identities,
    is_output,
    launcher,
    listed_files_match,
    output_files,
    read_rows,
    start,
    unjournaled,
    wait_for_outputs,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux signals")

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
LABELS = ("cat", "coffee", "space")
PER_LABEL = 100
CROP = 160
COPIES = 2
N_FILES = len(LABELS) * PER_LABEL * (COPIES + 1)  # copies plus the originals (keep_originals)


def label_photos() -> dict[str, list[np.ndarray]]:
    """RGB photos per label: scikit-image's (installed with the `samples` extra), or else the crops
    of the same photos in sample_data/, so the test runs wherever the test extra is installed."""
    try:
        from skimage import data
    except ImportError:
        def read(pattern: str) -> list[np.ndarray]:
            paths = sorted(SAMPLE_DATA.glob(pattern))
            assert paths, f"sample_data/ has no {pattern}"
            return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
        return {"cat": read("*/cat/*.jpg"), "coffee": read("*/coffee/*.jpg"), "space": read("*/rocket/*.jpg")}
    return {"cat": [data.chelsea()], "coffee": [data.coffee()], "space": [data.astronaut(), data.rocket()]}


@dataclass(frozen=True)
class Case:
    root: Path  # holds data/ and config.yaml; subprocesses run here (no augcli package in it)
    config: Path
    sources: frozenset[str]  # relpaths of the input images


@dataclass(frozen=True)
class Reference:
    rows: list[dict]  # manifest of a clean, uninterrupted run
    disk_bytes: int  # what its files take on a filesystem with 4 KiB blocks
    seconds: float


@pytest.fixture(scope="session")
def case(tmp_path_factory) -> Case:
    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(2026)
    sources = []
    for label, photos in label_photos().items():
        (root / "data" / label).mkdir(parents=True)
        for i in range(PER_LABEL):
            photo = photos[i % len(photos)]
            y, x = (int(rng.integers(0, n - CROP + 1)) for n in photo.shape[:2])
            crop = cv2.cvtColor(np.ascontiguousarray(photo[y:y + CROP, x:x + CROP]), cv2.COLOR_RGB2BGR)
            ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            rel = f"{label}/{label}_{i:03d}.jpg"
            (root / "data" / rel).write_bytes(jpeg.tobytes())
            sources.append(rel)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({
        "input": "data", "output": "out", "seed": 8, "copies": COPIES, "keep_originals": True, "workers": 2,
        "image": {"include": ["**/*.jpg"],
                  "pipeline": [{"Rotate": {"limit": 20, "p": 1.0}}, {"HorizontalFlip": {"p": 0.5}}]},
    }, sort_keys=False))
    return Case(root, config, frozenset(sources))


@pytest.fixture
def launch(case: Case, tmp_path: Path):
    """``launch(*args)`` starts ``augcli ARGS``; every process a test started is killed at teardown."""
    with launcher(case.root, tmp_path) as launch_:
        yield launch_


def run_config(launch, case: Case, out: Path) -> Run:
    return launch("run", case.config, "--output", out, "--json")


def finish(run: Run, expected: int | tuple[int, ...], timeout: float = RUN_TIMEOUT) -> Run:
    """Wait for ``run``, check its exit code, that it printed no traceback and left no process."""
    code = run.wait(timeout)
    assert code in (expected if isinstance(expected, tuple) else (expected,)), (
        f"exit {code}, expected {expected}: {run.describe()}")
    assert "Traceback" not in run.stderr, run.describe()
    left = run.survivors()
    assert not left, "processes of the run still alive after it exited:\n" + "\n".join(map(str, left))
    return run


def assert_verifies(launch, out: Path) -> None:
    # One process: the check is the same, and the machine keeps its cores for the runs under attack.
    run = finish(launch("verify", out, "--workers", "1"), 0)
    assert "all match" in run.stdout, run.stdout


@pytest.fixture(scope="session")
def reference(case: Case, tmp_path_factory) -> Reference:
    """A clean uninterrupted run, once per session: what every recovered run must equal."""
    out = case.root / "reference"
    logs = tmp_path_factory.mktemp("reference-logs")
    run = start(["run", case.config, "--output", out, "--json"], cwd=case.root, logs=logs)
    try:
        finish(run, 0)
        summary = run.summary()
        assert summary["status"] == "complete"
        assert summary["counts"].get("reused", 0) == 0, summary["counts"]  # its absence fails elsewhere
        problems = complete_output_problems(out)
        assert not problems, problems[:20]
        rows = read_rows(out / MANIFEST)
        assert len(rows) == N_FILES
        disk = sum(-(-(out / name).stat().st_size // 4096) * 4096 for name in output_files(out))
        return Reference(rows, disk, run.seconds)
    finally:
        run.kill_everything()


def assert_recovered(launch, case: Case, reference: Reference, out: Path, expect_reused: bool = True) -> dict:
    """The next run after a fault: finishes with exactly the clean run's files, keeps what it could."""
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = finish(run_config(launch, case, out), 0)
    summary = run.summary()
    assert summary["status"] == "complete", summary
    problems = complete_output_problems(out, reference.rows)
    assert not problems, problems[:20]
    reused = summary["counts"]["reused"]
    recorded = json.loads((out / RUN_JSON).read_text())
    assert recorded["status"] == "complete"
    assert recorded["counts"]["reused"] == reused
    if expect_reused:
        assert reused > 0, f"the resumed run rewrote everything: {summary['counts']}"
    # `reused` is honest: it counts the output files this run left in place (same inode and mtime;
    # a rewritten file is a new file renamed over the old one). Originals may be counted or not.
    after = identities(out)
    kept = [name for name, ident in before.items() if after.get(name) == ident]
    kept_copies = [name for name in kept if "__aug" in name]
    assert reused in (len(kept), len(kept_copies)), (
        f"reused {reused}, but {len(kept)} files ({len(kept_copies)} augmented) were left in place")
    assert_verifies(launch, out)
    return summary


def poll_changed(run: Run, out: Path, before: dict, n: int) -> int:
    """Wait until ``n`` of the files in ``before`` have been replaced and leave the run stopped there
    (``run.resume()``); fails if the run ends first."""
    def changed() -> int:
        now = identities(out)  # a stat of every file: ~5 ms
        return sum(now.get(name) != ident for name, ident in before.items())

    return run_until(run.pid, reached=lambda: (count := changed()) >= n and count,
                     ended=lambda: run.proc.poll() is not None, timeout=RUN_TIMEOUT,
                     head_start=lambda: changed() >= n // 2)


def assert_journal_true(out: Path) -> None:
    """At any instant the journal names every complete output file on disk."""
    missing = unjournaled(out)
    assert not missing, f"{len(missing)} files on disk that the journal does not name: {missing[:10]}"


@pytest.mark.parametrize("fraction", [0.15, 0.5, 0.85], ids=["early", "middle", "late"])
def test_kill_9_of_the_main_process_then_resume(launch, case, reference, tmp_path, fraction):
    out = tmp_path / "out"
    run = run_config(launch, case, out)
    wait_for_outputs(run, out, int(N_FILES * fraction))
    tree = run.tree()
    assert run.workers(), f"no worker in {list(map(str, tree))}"
    os.kill(run.pid, signal.SIGKILL)
    run.resume()  # the workers, to see that the main process is gone
    assert run.wait() == -signal.SIGKILL, run.describe()
    left = run.survivors(tree)
    assert not left, "processes of the killed run still alive:\n" + "\n".join(map(str, left))
    assert_journal_true(out)
    summary = assert_recovered(launch, case, reference, out)
    assert summary["counts"]["reused"] < N_FILES


def test_kill_9_of_one_worker_fails_its_sources_and_the_next_run_completes(launch, case, reference, tmp_path):
    out = tmp_path / "out"
    run = run_config(launch, case, out)
    wait_for_outputs(run, out, N_FILES // 5)
    workers = run.workers()
    assert workers, f"no worker among {list(map(str, run.tree()))}"
    os.kill(workers[0].pid, signal.SIGKILL)
    run.resume()
    # Exit 1 with the sources it held as errors; 0 only if it held none (killed between two chunks).
    code = finish(run, (0, 1)).proc.returncode
    summary = run.summary()
    errors = summary["errors"]
    assert bool(errors) == (code == 1), summary
    for error in errors:
        assert set(error) == {"source", "reason"}, error
        assert error["source"] in case.sources, error
        assert error["reason"], error
    assert len({e["source"] for e in errors}) == len(errors), errors
    assert not errors or errors[0]["source"] in run.stderr, run.stderr
    recorded = json.loads((out / RUN_JSON).read_text())
    assert recorded["errors"] == errors
    # The run went on with a fresh worker: every other source was done as in a clean run.
    failed = {e["source"] for e in errors}
    rows = read_rows(out / MANIFEST)
    expected = [row for row in reference.rows if row["source"] not in failed]
    assert rows == expected, differences(rows, expected)[:10]
    assert_journal_true(out)
    assert_recovered(launch, case, reference, out)


def test_kill_9_of_the_workers_while_one_sends_its_results(launch, case, reference, tmp_path):
    """The out-of-memory killer takes the workers while one is half-way through writing its results
    to the main process. The main process is stopped (SIGSTOP) until the result pipe is full and a
    worker is blocked writing into it; then every worker is killed and the main process resumed.
    Contract 5: the sources they held become error entries, exit 1, no hang, the next run finishes."""
    out = tmp_path / "out"
    run = run_config(launch, case, out)
    wait_for_outputs(run, out, N_FILES // 10)  # leaves the whole run stopped
    for worker in run.tree():  # the workers go on; the main process stays stopped
        os.kill(worker.pid, signal.SIGCONT)
    try:
        assert poll(lambda: (p := read_proc(run.pid)) is not None and p.state in "Tt", 10), run.describe()
        blocked = poll(lambda: [w for w in run.workers() if "pipe_write" in wchan(w.pid)], 60, interval=0.01)
        assert blocked, f"no worker blocked writing its results: {[(str(w), wchan(w.pid)) for w in run.workers()]}"
        for worker in run.workers():
            os.kill(worker.pid, signal.SIGKILL)
    finally:
        os.kill(run.pid, signal.SIGCONT)
    code = finish(run, (0, 1), timeout=30).proc.returncode  # 0 if they held no source (all journaled)
    errors = run.summary()["errors"]
    assert bool(errors) == (code == 1), errors
    assert all(e["source"] in case.sources and e["reason"] for e in errors), errors
    assert_journal_true(out)
    assert_recovered(launch, case, reference, out)


@pytest.mark.parametrize(("signum", "whole_group", "expected"),
                         [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
                         ids=["SIGINT-to-the-process-group-as-ctrl-c", "SIGTERM-to-the-main-process"])
def test_signal_stops_the_run_cleanly(launch, case, reference, tmp_path, signum, whole_group, expected):
    out = tmp_path / "out"
    run = run_config(launch, case, out)
    wait_for_outputs(run, out, N_FILES // 3)
    if whole_group:
        os.killpg(run.pid, signum)
    else:
        os.kill(run.pid, signum)
    run.resume()
    finish(run, expected)
    recorded = json.loads((out / RUN_JSON).read_text())
    assert recorded["status"] == "interrupted", recorded["status"]
    assert recorded["counts"]["outputs_written"] + recorded["counts"]["originals_written"] < N_FILES
    assert_journal_true(out)
    assert_recovered(launch, case, reference, out)


def test_ctrl_c_pressed_again_and_again_still_stops_cleanly(launch, case, reference, tmp_path):
    """An impatient user: Ctrl-C (SIGINT to the whole process group) every 50 ms for up to 3 s.
    The later presses land while the run is stopping its workers; only the first one counts."""
    out = tmp_path / "out"
    run = run_config(launch, case, out)
    wait_for_outputs(run, out, N_FILES // 3)
    os.killpg(run.pid, signal.SIGINT)
    run.resume()
    deadline = time.monotonic() + 3.0
    while run.proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):  # the group is gone: the run has ended
            os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.05)
    finish(run, 130)
    recorded = json.loads((out / RUN_JSON).read_text())
    assert recorded["status"] == "interrupted", recorded["status"]
    assert_journal_true(out)
    assert_recovered(launch, case, reference, out)


def test_ctrl_c_during_start_up_exits_130_and_writes_nothing(launch, case, reference, tmp_path):
    """Ctrl-C while `augcli run` is still importing its libraries (NumPy is mapped: the run's own
    imports have begun; `augcli --help` imports no NumPy), before any worker or file exists."""
    out = tmp_path / "out"
    run = run_config(launch, case, out)

    def importing_numpy() -> bool:
        try:
            with open(f"/proc/{run.pid}/maps") as maps:
                return "_multiarray_umath" in maps.read()
        except OSError:
            return False

    assert poll(importing_numpy, RUN_TIMEOUT, interval=0.002), run.describe()
    stop_group(run.pid)  # there, however fast the machine goes on to its first output (~0.4 s here)
    os.killpg(run.pid, signal.SIGINT)
    run.resume()
    finish(run, 130)
    assert "Aborted" not in run.stderr, run.describe()  # click's own message for a KeyboardInterrupt
    assert not out.exists() or count_outputs(out) == 0
    assert_recovered(launch, case, reference, out, expect_reused=False)


def test_a_second_run_into_a_held_output_exits_2_at_once(launch, case, reference, tmp_path):
    out = tmp_path / "out"
    first = run_config(launch, case, out)
    wait_for_outputs(first, out, N_FILES // 10)  # stopped there: holds its lock, the second cannot outwait it
    try:
        before = {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns, (out / name).stat().st_size)
                  for name in output_files(out)}
        second = finish(run_config(launch, case, out), 2, timeout=30)  # the holder is frozen: no waiting it out
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("error: "), lines
        assert str(out) in lines[0], lines
        assert f"PID {first.pid}" in lines[0], lines
        after = {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns, (out / name).stat().st_size)
                 for name in output_files(out)}
        assert after == before, "the refused run touched the output folder"
    finally:
        first.resume()
    finish(first, 0)
    assert first.summary()["status"] == "complete"
    problems = complete_output_problems(out, reference.rows)
    assert not problems, problems[:20]
    assert_verifies(launch, out)


@pytest.fixture
def small_tmpfs(tmp_path: Path, reference: Reference):
    """A tmpfs holding about half of what a complete run writes (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if not shutil.which("mount"):
        pytest.skip("no mount command")
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    size_kib = reference.disk_bytes // 2 // 4096 * 4
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    yield folder
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_disk_full_stops_with_one_line_and_the_next_run_resumes(launch, case, reference, small_tmpfs):
    out = small_tmpfs / "out"
    run = finish(run_config(launch, case, out), 1)
    full = [line for line in run.stderr.splitlines() if "no space left on device" in line.lower()]
    assert len(full) == 1, run.describe()
    assert str(out) in full[0], full
    recorded = json.loads((out / RUN_JSON).read_text())  # written from space reserved at the start
    assert recorded["status"] == "failed", recorded["status"]
    assert count_outputs(out) < N_FILES
    assert_journal_true(out)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    assert_recovered(launch, case, reference, out)


def test_kill_9_of_a_rerun_leaves_a_true_manifest_and_the_next_run_sorts_it_out(launch, case, reference, tmp_path):
    """A complete output, then a run with another seed killed halfway through rewriting it: the
    files of both runs are mixed on disk; the manifest lists none of the rewritten ones (issue 20: it
    was the complete run's, naming files that held the rerun's bytes), run.json says the rerun never
    ended, and the next run of the first config must sort them out."""
    out = tmp_path / "out"
    finish(run_config(launch, case, out), 0)
    rerun = launch("run", case.config, "--output", out, "--json", "--seed", "9")
    # Outputs already exist, so count the copies the rerun has rewritten (their inode changes).
    first = {name: ident for name, ident in identities(out).items() if is_output(name)}
    changed = poll_changed(rerun, out, first, N_FILES // 4)
    tree = rerun.tree()
    os.kill(rerun.pid, signal.SIGKILL)
    rerun.resume()
    assert rerun.wait() == -signal.SIGKILL, rerun.describe()
    left = rerun.survivors(tree)
    assert not left, "processes of the killed run still alive:\n" + "\n".join(map(str, left))
    assert changed
    rows = read_rows(out / MANIFEST)
    assert not listed_files_match(out, rows), listed_files_match(out, rows)[:5]
    assert all(row["copy"] is None for row in rows)  # every copy is remade with the other seed: none kept
    recorded = json.loads((out / RUN_JSON).read_text())
    assert (recorded["status"], recorded["manifest"], recorded["config"]["seed"]) == ("running", "partial", 9)
    assert_journal_true(out)
    assert_recovered(launch, case, reference, out)
