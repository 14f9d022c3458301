"""Issue 20 items 1, 2 and "outside the folder": an output folder that never lies, whatever sequence
of runs made it and however the last one stopped.

The stop matrix: every way a run stops (SIGINT to the process group, SIGTERM, kill -9 of the main
process, a full disk, a worker killed, ``on_error: fail``) on a fresh output and on a complete
output whose config then changed (another seed). After each stop, every row of manifest.jsonl
must name a file under the output holding the row's sha256 (or the manifest is absent and
run.json says why), and run.json must say how the run ended. Real ``augcli run`` processes on
120 small real photos (360 files); faults land where they must through SIGSTOP (tests/faults/).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from augcli.verify import verify
from tests.conftest import invoke, write_config
from tests.faults.procs import run_until
from tests.faults.runs import (
    MANIFEST,
    RUN_JSON,
    RUN_TIMEOUT,
    Run,
    complete_output_problems,
    count_outputs,
    identities,
    is_output,
    launcher,
    output_files,
    read_rows,
    start,
    wait_for_outputs,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux signals")
SAMPLE_DATA = Path(__file__).resolve().parent.parent.parent / "sample_data"
LABELS = ("cat", "coffee", "rocket")
PER_LABEL = 40
COPIES = 2
BROKEN = "coffee/broken.jpg"  # sorts first among coffee/: in the middle of the plan
N_FILES = len(LABELS) * PER_LABEL * (COPIES + 1)
SEED, CHANGED_SEED = 8, 9


@dataclass(frozen=True)
class Case:
    root: Path  # data/, the configs; subprocesses run here
    config: Path  # seed 8, on_error: skip
    failing: Path  # the same with on_error: fail
    complete: Path  # a complete output of ``config`` (one source fails: BROKEN), copied by each test
    complete_bytes: int  # what it takes on a filesystem of 4 KiB blocks
    complete_seeds: dict[str, int]  # output -> the seed the complete run gave it


def _config(path: Path, **extra) -> Path:
    path.write_text(yaml.safe_dump({
        "input": "data", "output": "out", "seed": SEED, "copies": COPIES, "keep_originals": True, "workers": 2,
        "image": {"include": ["**/*.jpg"],
                  "pipeline": [{"Rotate": {"limit": 20, "p": 1.0}}, {"HorizontalFlip": {"p": 0.5}}]},
        **extra,
    }, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Case:
    root = tmp_path_factory.mktemp("trust")
    rng = np.random.default_rng(20)
    for label in LABELS:
        photos = [cv2.imread(str(p)) for p in sorted(SAMPLE_DATA.glob(f"*/{label}/*.jpg"))]
        assert photos, f"sample_data/ has no {label} photos"
        (root / "data" / label).mkdir(parents=True)
        for i in range(PER_LABEL):
            photo = photos[i % len(photos)]
            y, x = (int(rng.integers(0, n - 128 + 1)) for n in photo.shape[:2])
            ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(photo[y:y + 128, x:x + 128]))
            assert ok
            (root / "data" / label / f"{label}_{i:03d}.jpg").write_bytes(jpeg.tobytes())
    (root / "data" / BROKEN).write_bytes(b"not a JPEG")
    config = _config(root / "config.yaml")
    failing = _config(root / "failing.yaml", on_error="fail")
    complete = root / "complete"
    run = start(["run", config, "--output", complete, "--json"], cwd=root, logs=root / "complete-logs")
    try:
        assert run.wait() == 1, run.describe()  # BROKEN is an error entry
    finally:
        run.kill_everything()
    assert [e["source"] for e in run.summary()["errors"]] == [BROKEN]
    assert not complete_output_problems(complete)
    assert len(read_rows(complete / MANIFEST)) == N_FILES
    disk = sum(-(-(complete / name).stat().st_size // 4096) * 4096 for name in output_files(complete))
    seeds = {row["output"]: row["seed"] for row in read_rows(complete / MANIFEST)}
    return Case(root, config, failing, complete, disk, seeds)


@pytest.fixture
def launch(case: Case, tmp_path: Path):
    with launcher(case.root, tmp_path) as launch_:
        yield launch_


def finish(run: Run, expected: int | tuple[int, ...]) -> Run:
    code = run.wait()
    assert code in (expected if isinstance(expected, tuple) else (expected,)), run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert not run.survivors(), "processes of the run still alive after it exited"
    return run


def prepare(case: Case, out: Path, changed: bool) -> None:
    """A fresh output (nothing there), or a copy of the complete output of ``case.config``."""
    if changed:
        shutil.copytree(case.complete, out, symlinks=True)


def start_run(launch, case: Case, out: Path, changed: bool, failing: bool = False) -> Run:
    config = case.failing if failing else case.config
    return launch("run", config, "--output", out, "--json", *(["--seed", str(CHANGED_SEED)] if changed else []))


def stop_mid_run(run: Run, out: Path, changed: bool, before: dict) -> None:
    """Leave the run stopped (SIGSTOP) part-way: a third of the files written, or, over a complete
    output, a quarter of its files rewritten (their inode changes)."""
    if not changed:
        wait_for_outputs(run, out, N_FILES // 3)
        return

    def rewritten() -> int:
        now = identities(out)
        return sum(now.get(name) != ident for name, ident in before.items())

    run_until(run.pid, reached=lambda: (n := rewritten()) >= N_FILES // 4 and n,
              ended=lambda: run.proc.poll() is not None, timeout=RUN_TIMEOUT,
              head_start=lambda: rewritten() >= N_FILES // 8)


def manifest_lies(out: Path) -> list[str]:
    """Rows of manifest.jsonl that do not match the bytes on disk (row by row), or why it cannot be read."""
    path = out / MANIFEST
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        return ["the manifest ends in a torn line"]
    lies = []
    for row in (json.loads(line) for line in text.splitlines()):
        file = out / row["output"]
        if not file.is_file():
            lies.append(f"listed but missing: {row['output']}")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != row["sha256"]:
            lies.append(f"listed with other bytes: {row['output']}")
    return lies


def assert_true_after_stop(case: Case, out: Path, status: str, changed: bool) -> dict:
    """The rule: every manifest row matches the file on disk, or there is no manifest and run.json says
    why; run.json says how the run ended and describes the run that stopped."""
    lies = manifest_lies(out)
    assert not lies, f"{len(lies)} manifest rows lie: {lies[:5]}"
    recorded = json.loads((out / RUN_JSON).read_text())
    assert recorded["status"] == status, recorded["status"]
    assert recorded["config"]["seed"] == (CHANGED_SEED if changed else SEED)
    if (out / MANIFEST).exists():
        assert recorded["manifest"] == ("complete" if status == "complete" else "partial"), recorded["manifest"]
        rows = read_rows(out / MANIFEST)
        # only rows of the run that stopped: the complete run's rows of seed 8 would be true of files but
        # not of run.json (verify would re-derive them with seed 9)
        if changed:
            assert all(row["copy"] is None or row["seed"] != case.complete_seeds.get(row["output"]) for row in rows)
    else:
        assert recorded["manifest"] == "absent", recorded["manifest"]
    return recorded


def assert_verify_says_unfinished(out: Path, how: str) -> str:
    """verify's first line says how the last run ended; nothing else but the summary; exit 1. Returns the line."""
    result = invoke("verify", out, "--workers", "1")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(how), lines[:3]
    assert "finish it with: augcli run " in lines[0], lines[0]
    assert "regenerates differently" not in result.output, result.output[:2000]
    assert len(lines) == 2, lines[:12]  # the line, and the summary: nothing it cannot judge
    assert lines[1].endswith("the last run did not finish, and every listed file matches"), lines[1]
    return lines[0]


CHANGED = pytest.mark.parametrize("changed", [False, True], ids=["fresh", "changed-config"])


@linux_only
def test_interrupted_changed_config_manifest_matches_disk(launch, case, tmp_path):
    """Item 1: a complete output, then a run of another seed stopped by Ctrl-C part-way left the first
    run's manifest, naming files that now held the second run's bytes. Now the manifest lists what the
    second run completed, all true; run.json says interrupted, partial; the next run finishes the job."""
    out = tmp_path / "out"
    prepare(case, out, changed=True)
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = start_run(launch, case, out, changed=True)
    stop_mid_run(run, out, True, before)
    os.killpg(run.pid, signal.SIGINT)
    run.resume()
    finish(run, 130)
    assert_true_after_stop(case, out, "interrupted", changed=True)
    rows = read_rows(out / MANIFEST)
    assert 0 < len(rows) < N_FILES
    finish(start_run(launch, case, out, changed=True), 1)  # BROKEN fails again; the rest is complete
    assert_true_after_stop(case, out, "complete", changed=True)
    assert not complete_output_problems(out)
    assert len(read_rows(out / MANIFEST)) == N_FILES


@linux_only
def test_verify_on_an_interrupted_output_says_so_in_one_line(launch, case, tmp_path):
    """Item 2: verify printed a 'regenerates differently ... please report it' line per row on an
    output whose last run was interrupted. Now one line: how and when it stopped, how far it got and
    the command that finishes it; exit 1; only the listed files' hashes are checked."""
    out = tmp_path / "out"
    prepare(case, out, changed=True)
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = start_run(launch, case, out, changed=True)
    stop_mid_run(run, out, True, before)
    os.killpg(run.pid, signal.SIGINT)
    run.resume()
    finish(run, 130)
    recorded = json.loads((out / RUN_JSON).read_text())
    listed = len(read_rows(out / MANIFEST))
    line = assert_verify_says_unfinished(out, f"the last run was interrupted by SIGINT at "
                                              f"{recorded['timings']['finished']}")
    done = len({row["source"] for row in read_rows(out / MANIFEST)})
    assert recorded["progress"] == {"sources": len(LABELS) * PER_LABEL + 1, "complete": done}  # BROKEN's too
    assert f"; {done} of {len(LABELS) * PER_LABEL + 1} sources are complete ({listed} manifest rows);" in line, line
    assert line.endswith(f"finish it with: augcli run {case.config} --seed {CHANGED_SEED} --output {out}"), line
    report = verify(out, workers=1)
    assert report.unfinished == line and report.summary(out)["status"] == "unfinished"
    assert report.regenerated == 0 and report.hashed == listed and not report.findings
    # an edited file is still a finding: what can be judged is judged
    victim = out / read_rows(out / MANIFEST)[0]["output"]
    victim.write_bytes(victim.read_bytes() + b"!")
    result = invoke("verify", out, "--workers", "1")
    assert result.exit_code == 1
    assert f"changed: {victim.relative_to(out).as_posix()}: its sha256 differs" in result.output


@linux_only
@CHANGED
@pytest.mark.parametrize(("signum", "whole_group", "code"), [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_leaves_a_true_partial_manifest(launch, case, tmp_path, changed, signum, whole_group, code):
    out = tmp_path / "out"
    prepare(case, out, changed)
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = start_run(launch, case, out, changed)
    stop_mid_run(run, out, changed, before)
    (os.killpg if whole_group else os.kill)(run.pid, signum)
    run.resume()
    finish(run, code)
    recorded = assert_true_after_stop(case, out, "interrupted", changed)
    assert recorded["signal"] == signal.Signals(signum).name
    assert 0 < len(read_rows(out / MANIFEST)) < N_FILES


@linux_only
@CHANGED
def test_kill_9_leaves_a_true_manifest_and_verify_says_the_run_was_killed(launch, case, tmp_path, changed):
    out = tmp_path / "out"
    prepare(case, out, changed)
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = start_run(launch, case, out, changed)
    stop_mid_run(run, out, changed, before)
    tree = run.tree()
    os.kill(run.pid, signal.SIGKILL)
    run.resume()
    assert run.wait() == -signal.SIGKILL, run.describe()
    assert not run.survivors(tree)
    # killed while the complete run's files were being rewritten: the manifest lists only what this run
    # kept (none of them: the seed changed every copy) and run.json says the run never ended
    assert_true_after_stop(case, out, "running", changed)
    assert_verify_says_unfinished(out, "the last run (started ")
    finish(start_run(launch, case, out, changed), 1)
    assert_true_after_stop(case, out, "complete", changed)
    assert not complete_output_problems(out)


@linux_only
@CHANGED
def test_a_killed_worker_leaves_a_true_manifest(launch, case, tmp_path, changed):
    out = tmp_path / "out"
    prepare(case, out, changed)
    before = {name: ident for name, ident in identities(out).items() if is_output(name)}
    run = start_run(launch, case, out, changed)
    stop_mid_run(run, out, changed, before)
    workers = run.workers()
    assert workers, [str(p) for p in run.tree()]
    os.kill(workers[0].pid, signal.SIGKILL)
    run.resume()
    finish(run, 1)  # BROKEN, and whatever the killed worker held
    assert_true_after_stop(case, out, "complete", changed)
    rows = read_rows(out / MANIFEST)
    failed = {e["source"] for e in run.summary()["errors"]}
    assert {row["source"] for row in rows}.isdisjoint(failed)


@linux_only
@CHANGED
def test_on_error_fail_leaves_a_true_partial_manifest(launch, case, tmp_path, changed):
    out = tmp_path / "out"
    prepare(case, out, changed)
    run = finish(start_run(launch, case, out, changed, failing=True), 1)
    assert BROKEN in run.stderr
    assert_true_after_stop(case, out, "stopped", changed)
    assert_verify_says_unfinished(out, "the last run stopped at ")


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A tmpfs (root only); ``resize(bytes)`` sets its size."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root and mount")
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")

    def resize(size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size // 4096 * 4}k", str(folder)], check=True)

    yield folder, resize
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@linux_only
@CHANGED
def test_a_full_disk_leaves_a_true_manifest(launch, case, tmpfs, changed):
    folder, resize = tmpfs
    out = folder / "out"
    prepare(case, out, changed)
    # fresh: room for half the run; changed: the complete output, and room for a third more (the run
    # with another seed and a third copy writes more than that)
    resize(case.complete_bytes // 2 if not changed else case.complete_bytes * 4 // 3)
    copies = ["--copies", "3"] if changed else []
    run = finish(launch("run", case.config, "--output", out, "--json", *copies,
                        *(["--seed", str(CHANGED_SEED)] if changed else [])), 1)
    assert "no space left on device" in run.stderr.lower(), run.describe()
    assert_true_after_stop(case, out, "failed", changed)
    assert count_outputs(out) > 0


# ------------------------------------------------------------------------ verify: grouping, paths


@pytest.fixture
def small_output(tmp_path, dataset) -> Path:
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    return tmp_path / "out"


def test_verify_groups_problems_of_a_kind_and_json_keeps_them_all(small_output):
    rows = read_rows(small_output / MANIFEST)
    for row in rows:
        path = small_output / row["output"]
        path.write_bytes(path.read_bytes() + b"edited")
    result = invoke("verify", small_output, "--workers", "1")
    assert result.exit_code == 1
    changed = [line for line in result.output.splitlines() if line.startswith("changed: ")]
    assert len(changed) == 10, result.output
    assert f"... and {len(rows) - 10} more changed files" in result.output.splitlines()
    report = json.loads(invoke("verify", small_output, "--workers", "1", "--json", "--quiet").stdout)
    assert len(report["problems"]) == len(rows) and {p["problem"] for p in report["problems"]} == {"changed"}


class _Opens:
    """Every path opened in this process while ``recording`` (an audit hook: builtins.open and os.open
    both raise the ``open`` event)."""

    recording: list[str] | None = None

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if event == "open" and cls.recording is not None and isinstance(args[0], (str, bytes, os.PathLike)):
            cls.recording.append(os.fsdecode(args[0]))


sys.addaudithook(_Opens.hook)


def test_a_row_outside_the_folder_is_named_and_never_read(small_output, tmp_path):
    """Also: a row whose output is ../../etc/hostname (an edited manifest) was read and reported as
    changed or missing; one whose source escapes the input folder had its 'source' read."""
    outside = tmp_path / "outside.png"
    manifest = small_output / MANIFEST
    rows = read_rows(manifest)
    outside.write_bytes((small_output / rows[1]["output"]).read_bytes())  # the same bytes: only the path is wrong
    escaping = os.path.relpath(outside, small_output)
    rows[1]["output"] = escaping
    rows[2]["output"] = str(outside)  # absolute
    rows[3]["source"] = "../../../../etc/hostname"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    _Opens.recording = []
    try:
        report = verify(small_output, workers=1)
    finally:
        opened, _Opens.recording = _Opens.recording, None
    found = {(f.path, f.problem) for f in report.findings}
    assert (escaping, "outside the folder") in found and (str(outside), "outside the folder") in found, found
    assert (rows[3]["output"], "outside the folder") in found, found
    assert any("its source '../../../../etc/hostname' is outside the input folder" in f.detail
               for f in report.findings), report.findings
    assert not [p for p in opened if "outside.png" in p or p.endswith("hostname")], opened
    result = invoke("verify", small_output, "--workers", "1")
    assert f"outside the folder: {escaping}: the manifest names a file outside {small_output.resolve()}" in (
        result.output)
    assert "Traceback" not in result.output and result.exit_code == 1


def test_a_damaged_manifest_row_is_a_finding_not_a_traceback(small_output):
    manifest = small_output / MANIFEST
    lines = manifest.read_text().splitlines()
    lines[0] = json.dumps({"source": "x"})  # no output, no sha256
    lines[1] = "[1, 2]"
    manifest.write_text("\n".join(lines) + "\n")
    result = invoke("verify", small_output, "--workers", "1")
    assert result.exit_code == 1
    assert "damaged row: manifest.jsonl line 1: not a record" in result.output
    assert "damaged row: manifest.jsonl line 2: not a record" in result.output


def test_a_no_op_rerun_leaves_the_manifest_untouched(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    manifest = tmp_path / "out" / MANIFEST
    before = manifest.stat()
    assert invoke("run", cfg).exit_code == 0
    after = manifest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads((tmp_path / "out" / RUN_JSON).read_text())["manifest"] == "complete"


def test_a_run_stopped_before_it_changed_anything_leaves_the_folder_as_it_was(tmp_path, dataset, monkeypatch):
    """Ctrl-C while a re-run with another seed still checks what it may keep: nothing was rewritten, so
    the complete run's manifest and run.json stay, bytes and mtimes (they still describe each other)."""
    import augcli.job
    from augcli.errors import RunStoppedError

    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    out = tmp_path / "out"
    before = {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in (MANIFEST, RUN_JSON)}

    def pressed_ctrl_c(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(augcli.job, "sha256_file", pressed_ctrl_c)
    with pytest.raises(RunStoppedError, match=r"^interrupted by SIGINT"):
        augcli.job.run(cfg, overrides={"seed": 3})
    assert {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in before} == before


def test_no_room_for_any_manifest_leaves_none_and_run_json_says_so(tmp_path, dataset, monkeypatch):
    """A disk so full that not even the set-aside manifest fits: the complete run's manifest is deleted
    (it would name files this run rewrites), and run.json says the manifest is absent, and why."""
    import errno

    import augcli.job
    from augcli.errors import OutputWriteError, RunStoppedError

    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    out = tmp_path / "out"

    def disk_full(output_dir, lines):
        raise OutputWriteError(errno.ENOSPC, "No space left on device", str(output_dir / MANIFEST))

    monkeypatch.setattr(augcli.job, "write_manifest", disk_full)
    with pytest.raises(RunStoppedError, match=r"^no space left on device writing .*manifest\.jsonl; "):
        augcli.job.run(cfg, overrides={"seed": 3})
    assert not (out / MANIFEST).exists()
    recorded = json.loads((out / RUN_JSON).read_text())
    assert (recorded["status"], recorded["manifest"], recorded["config"]["seed"]) == ("failed", "absent", 3)
    assert recorded["fatal"].startswith("no space left on device writing ")
    result = invoke("verify", out)
    assert result.exit_code == 1 and result.output.startswith("the last run stopped at "), result.output
