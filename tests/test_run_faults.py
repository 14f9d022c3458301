"""Real processes, real signals, a real full disk: the guarantees of docs/guarantees.md (issue 8).

Each test starts `augcli run` as a subprocess in its own session, waits until workers have
finished some tasks (read from the journal), then attacks it. tests/test_faults.py goes further.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augcli.journal import RUN_PREFIX, STATE_DIR, read_state
from augcli.manifest import is_own_file, read_manifest
from tests.conftest import make_image_folder, write_config
from tests.faults.procs import continue_group, run_until

PIPELINE = [{"Rotate": {"limit": 20, "p": 1.0}}, {"GaussianBlur": {"p": 0.5}}]


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """240 small real photos: a run of a few seconds on two workers."""
    root = tmp_path_factory.mktemp("faults")
    make_image_folder(root / "data", {"train/a": 120, "train/b": 120})
    return root


def config(root: Path, name: str, copies: int = 3) -> Path:
    return write_config(root / f"{name}.yaml", output=name, copies=copies, image={"pipeline": PIPELINE})


def start(cfg: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.Popen([sys.executable, "-m", "augcli", "run", str(cfg), "--workers", "2", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 90) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def tasks_done(out: Path, sid: int) -> int:
    """Tasks the run of session ``sid`` has finished: the records in the run files of its workers
    (``run-PID.jsonl``; an earlier, interrupted run's files do not count)."""
    pids = session_processes(sid)
    done = 0
    for path in (out / STATE_DIR).glob(RUN_PREFIX + "*"):
        if int(path.name[len(RUN_PREFIX):].split(".")[0]) in pids:
            done += path.read_bytes().count(b'{"task":')
    return done


@contextlib.contextmanager
def frozen(proc: subprocess.Popen, out: Path, n: int = 12):
    """Let the run finish ``n`` tasks, then keep its whole session stopped (SIGSTOP, as Ctrl-Z stops a
    job) for the body of the block, so that the attack lands mid-run however fast the machine (the
    720 outputs take under a second); SIGCONT after."""
    run_until(proc.pid, reached=lambda: tasks_done(out, proc.pid) >= n, ended=lambda: proc.poll() is not None,
              timeout=60, head_start=lambda: tasks_done(out, proc.pid) >= n // 2)
    try:
        yield
    finally:
        continue_group(proc.pid)


def session_processes(sid: int) -> dict[int, str]:
    """PID -> state (R, S, T, Z...) of every process of a session: the run's main process, workers,
    trackers."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid:
                found[int(entry.name)] = fields[0]
    return found


def session_alive(sid: int) -> list[int]:
    """Live (not zombie) processes of a session."""
    return [pid for pid, state in session_processes(sid).items() if state != "Z"]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def wait_session_gone(sid: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while session_alive(sid):
        assert time.monotonic() < deadline, f"processes of the run survive: {session_alive(sid)}"
        time.sleep(0.1)


def hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.rglob("*") if p.is_file() and not is_own_file(p.relative_to(out).as_posix())}


def assert_consistent(out: Path) -> None:
    """Every listed file exists with its sha256 (of the file, for images), nothing unlisted, no temp file."""
    on_disk = hashes(out)
    rows = read_manifest(out / "manifest.jsonl")
    assert {r["output"]: r["sha256"] for r in rows} == on_disk


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_interrupt_kill_and_resume_give_the_clean_result(big):
    """Issue 8 items 5 and 6: Ctrl-C exited 1 and replaced the previous manifest with a partial one;
    kill -9 left the workers running. Now: 130, a partial manifest of what is complete, no process
    left, and the resumed run is byte-identical to an uninterrupted one."""
    out = big / "out"
    code, _, err = finish(start(config(big, "out", copies=1)))
    assert code == 0, err
    previous = (out / "manifest.jsonl").read_bytes()

    cfg = config(big, "out", copies=3)
    proc = start(cfg)
    with frozen(proc, out):
        proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err
    assert err.startswith("interrupted by SIGINT: ") and err.count("\n") == 1 and "Traceback" not in err
    # the files the journal records (a source stopped half-way leaves files it names, for the next run)
    recorded = {name for record in read_state(out).records.values() for name in record.files}
    assert recorded and all((out / name).is_file() for name in recorded)
    assert err.startswith(f"interrupted by SIGINT: {len(recorded)} files are in {out} and recorded")
    recorded_run = json.loads((out / "run.json").read_text())
    assert (recorded_run["status"], recorded_run["manifest"]) == ("interrupted", "partial")
    # issue 20: the previous manifest named files this run rewrote; the partial one lists this run's, all true
    rows = read_manifest(out / "manifest.jsonl")
    assert (out / "manifest.jsonl").read_bytes() != previous and rows
    assert all(hashlib.sha256((out / r["output"]).read_bytes()).hexdigest() == r["sha256"] for r in rows)
    wait_session_gone(proc.pid)

    proc = start(cfg)
    with frozen(proc, out, n=40):
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    wait_session_gone(proc.pid)

    code, stdout, err = finish(start(cfg, "--json"))
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["counts"]["reused"] >= 40 * 4 and summary["counts"]["stale_removed"] == 0
    assert not list(out.rglob("*.tmp"))
    assert_consistent(out)
    code, _, err = finish(start(config(big, "clean", copies=3)))
    assert code == 0, err
    assert hashes(out) == hashes(big / "clean")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_exits_143_and_stops_the_workers(big):
    proc = start(config(big, "term"))
    with frozen(proc, big / "term"):
        proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 143 and err.startswith("interrupted by SIGTERM: ") and "Traceback" not in err
    wait_session_gone(proc.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_fails_its_source_and_the_run_goes_on(big):
    """Issue 8 item 7: a raw TerminatedWorkerError traceback, and the files it wrote unlisted."""
    out = big / "oom"
    proc = start(config(big, "oom"), "--json")
    with frozen(proc, out):
        workers = [pid for pid in session_alive(proc.pid) if pid != proc.pid and parent_of(pid) == proc.pid
                   and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert workers
        os.kill(workers[0], signal.SIGKILL)
    code, stdout, err = finish(proc)
    assert code == 1 and "Traceback" not in err, (code, err, stdout)
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failures and all("the worker process working on it died" in line for line in failures)
    assert_consistent(out)
    failed = {e["source"] for e in json.loads((out / "run.json").read_text())["errors"]}
    assert failed and all(f"failed: {source}:" in err for source in failed)
    code, stdout, err = finish(start(config(big, "oom"), "--json"))
    assert code == 0, err
    assert json.loads(stdout)["counts"]["outputs_written"] == 3 * len(failed)
    assert_consistent(out)


def test_a_second_run_into_a_held_output_exits_2_at_once(big):
    """Issue 8 item 4: two runs interleaved their manifests, one crashed. The first run is stopped
    (Ctrl-Z) while the second starts: it holds the output however long it takes to come back (the
    second run used to be started while the first went on, and on a fast machine the first had
    finished before the second looked, so the second ran and exited 0)."""
    out = big / "held"
    first = start(config(big, "held"))
    with frozen(first, out, n=2):
        began = time.monotonic()
        code, _, err = finish(start(config(big, "held")))
    assert code == 2 and time.monotonic() - began < 20
    assert err == f"error: output folder {out} is in use by another augcli run (PID {first.pid}); wait for it " \
                  "to finish, stop it, or choose another output\n"
    code, _, err = finish(first)
    assert code == 0, err
    assert_consistent(out)


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_with_one_line_and_the_next_run_resumes(big, tmpfs):
    out = tmpfs / "out"
    cfg = write_config(big / "full.yaml", output=str(out), copies=3, image={"pipeline": PIPELINE})
    code, _, err = finish(start(cfg))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: no space left on device writing {out}/")
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    subprocess.run(["mount", "-o", "remount,size=64m", str(tmpfs)], check=True)
    code, stdout, err = finish(start(cfg, "--json"))
    assert code == 0, err
    assert json.loads(stdout)["counts"]["reused"] > 0
    assert not list(out.rglob("*.tmp"))
    assert_consistent(out)
