import json
import subprocess
import sys

import numpy as np
import pytest

from augcli.verify import verify
from tests.conftest import invoke, make_noisy, write_config

PIPELINE = [{"HorizontalFlip": {"p": 0.5}}, {"Rotate": {"limit": 20, "p": 0.7}}, {"GaussNoise": {"p": 0.5}}]


@pytest.fixture
def run_output(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    return tmp_path / "out"


def test_fresh_output_verifies(run_output):
    result = invoke("verify", run_output, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "20 manifest entries, 20 checked, 12 re-derived: all match" in result.output


def test_altered_file_is_named(run_output):
    victim = run_output / "train" / "dog" / "img_01__aug1.png"
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = invoke("verify", run_output)
    assert result.exit_code == 1
    assert "changed: train/dog/img_01__aug1.png: its sha256 differs from the manifest" in result.output


def test_deleted_and_stray_files_are_named(run_output):
    (run_output / "train" / "cat" / "img_00__aug0.png").unlink()
    (run_output / "val" / "cat" / "notes.txt").write_text("mine")
    result = invoke("verify", run_output)
    assert result.exit_code == 1
    assert "missing: train/cat/img_00__aug0.png: listed in the manifest but not on disk" in result.output
    assert "stray: val/cat/notes.txt: on disk but not in the manifest" in result.output


def test_changed_source_is_told_apart_from_a_changed_output(run_output, dataset):
    source = dataset / "train" / "cat" / "img_02.png"
    source.write_bytes((dataset / "train" / "cat" / "img_01.png").read_bytes())
    report = verify(run_output)
    assert {(f.path, f.problem) for f in report.findings} == {
        ("train/cat/img_02.png", "source changed"),
        ("train/cat/img_02__aug0.png", "source changed"),
        ("train/cat/img_02__aug1.png", "source changed"),
    }


def test_a_record_that_does_not_regenerate_names_the_likely_cause(run_output):
    manifest = run_output / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    target = next(r for r in rows if r["copy"] == 1)
    target["seed"] += 1  # as if the run had drawn differently
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = json.loads((run_output / "run.json").read_text())
    run["libraries"]["albumentations"] = "1.9.9"
    (run_output / "run.json").write_text(json.dumps(run))
    report = verify(run_output)
    (finding,) = report.findings
    assert (finding.path, finding.problem) == (target["output"], "regenerates differently")
    assert "library versions differ from the run's: albumentations 1.9.9 (run)" in finding.detail


def test_sample_rederives_a_deterministic_subset(run_output):
    first, second = verify(run_output, sample=5), verify(run_output, sample=5)
    assert first.hashed == second.hashed == 5 and first.regenerated == second.regenerated
    assert not first.findings


def test_not_an_output_folder_exits_2(tmp_path):
    result = invoke("verify", tmp_path)
    assert result.exit_code == 2
    assert "is not an augcli output folder: it has no run.json" in result.output


def test_sample_regenerates_only_the_sampled_outputs(run_output):
    rows = [json.loads(line) for line in (run_output / "manifest.jsonl").read_text().splitlines()]
    report = verify(run_output, sample=5)
    picked = np.random.default_rng(0).choice(len(rows), 5, replace=False)  # as verify._sample picks
    sampled = [rows[i] for i in sorted(picked)]
    assert report.regenerated == sum(r["copy"] is not None for r in sampled)


def test_verify_writes_nothing(run_output, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert verify(run_output).findings == []
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_a_source_the_library_failed_on_is_no_crash(tmp_path, dataset):
    # RandomCrop raises CropSizeError (not a ValueError) on sources shorter than 110 px when it
    # applies (p=0.5): the run records the error and goes on, and a failed source is in the output
    # whole or not at all (the copies drawn before the failing one are removed); verify does not crash.
    step = {"RandomCrop": {"height": 110, "width": 100, "p": 0.5}}
    cfg = write_config(tmp_path / "c.yaml", copies=4, image={"pipeline": [step]})
    assert invoke("run", cfg).exit_code == 1
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    failed = {e["source"] for e in run["errors"]}
    assert failed and failed <= {"train/cat/img_00.png", "train/cat/img_01.png"}
    assert all("CropSizeError" in e["reason"] for e in run["errors"])
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert not any(r["source"] in failed for r in rows)
    for source in failed:
        assert not list((tmp_path / "out" / "train" / "cat").glob(source.split("/")[-1][:-4] + "__aug*"))
    result = invoke("verify", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "all match" in result.output


def test_a_source_that_fails_only_now_is_named(tmp_path, dataset):
    step = {"RandomCrop": {"height": 90, "width": 100}}
    cfg = write_config(tmp_path / "c.yaml", copies=1, image={"pipeline": [step]})
    assert invoke("run", cfg).exit_code == 0
    import cv2

    small = dataset / "train" / "dog" / "img_00.png"
    cv2.imwrite(str(small), cv2.imread(str(small))[:50])  # now too small to crop: fails, and it changed
    report = verify(tmp_path / "out")
    assert {(f.path, f.problem) for f in report.findings} == {
        ("train/dog/img_00.png", "source changed"), ("train/dog/img_00__aug0.png", "source changed")}


def test_a_table_whose_copies_were_all_dropped_verifies(tmp_path):
    # One-word texts: a swap changes nothing, so drop_unchanged leaves every copy out and the
    # output table holds only the original rows (with the aug_* columns): not a copy of the source.
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "words.csv").write_text("text,label\nhello,a\nworld,b\n")
    cfg = write_config(tmp_path / "c.yaml", copies=2,
                       text={"drop_unchanged": True, "pipeline": [{"RandomWordAug": {"action": "swap"}}]})
    assert invoke("run", cfg).exit_code == 0
    header = (tmp_path / "out" / "train" / "words.csv").read_text().splitlines()[0]
    assert header == "text,label,aug_source_row,aug_copy"
    result = invoke("verify", tmp_path / "out")
    assert result.exit_code == 0, result.output


def test_an_edited_line_file_is_changed(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "lines.txt").write_text("the quick brown fox\njumps over the lazy dog\n")
    cfg = write_config(tmp_path / "c.yaml", copies=2,
                       text={"unit": "line", "pipeline": [{"RandomWordAug": {"action": "swap"}}]})
    assert invoke("run", cfg).exit_code == 0
    assert verify(tmp_path / "out").findings == []
    victim = tmp_path / "out" / "train" / "lines__aug1.txt"
    victim.write_text(victim.read_text() + "\n")
    (finding,) = verify(tmp_path / "out").findings
    assert (finding.path, finding.problem) == ("train/lines__aug1.txt", "changed")


def test_bookkeeping_files_are_not_strays(run_output):
    from augcli.manifest import STATE_DIR

    (run_output / STATE_DIR).mkdir(exist_ok=True)
    (run_output / STATE_DIR / "journal.jsonl").write_text("")
    (run_output / STATE_DIR / "lock").write_text("")
    assert verify(run_output).findings == []
    (run_output / "train" / ".augcli").mkdir()
    (run_output / "train" / ".augcli" / "lock").write_text("")  # only the output folder's own is bookkeeping
    assert [f.problem for f in verify(run_output).findings] == ["stray"]


def test_library_messages_while_re_deriving_are_counted_not_printed(run_output, monkeypatch, capfd):
    """The run caught and reported them; verify catches them the same way instead of printing them."""
    from augcli.modalities import image

    make_noisy(monkeypatch, image, "process")
    report = verify(run_output, workers=1)
    assert report.exit_code == 0
    err = capfd.readouterr().err
    assert "libpng" not in err and "resampled" not in err
    sources = len({r["source"] for r in map(json.loads, (run_output / "manifest.jsonl").read_text().splitlines())})
    assert report.warnings == {"UserWarning: resampled, this hurt execution time": sources,
                               "libpng warning: iCCP: known incorrect sRGB profile": sources}
    assert report.summary(run_output)["warnings"] == [  # verify --json, as run.json lists them
        {"message": "UserWarning: resampled, this hurt execution time", "count": sources},
        {"message": "libpng warning: iCCP: known incorrect sRGB profile", "count": sources}]


def test_verify_waits_for_no_run_and_a_run_does_not_start_under_a_verify(run_output):
    """verify reads under a shared lock: refused while a run writes the folder (exit 2, naming the run),
    and a run started while a verify reads it is refused instead of changing files under it."""
    import os
    import subprocess
    import sys

    from augcli.journal import LOCK_NAME
    from augcli.lock import OutputLock

    lock_file = run_output / ".augcli" / LOCK_NAME
    writer = OutputLock.acquire(lock_file, run_output)  # as a run holds it
    try:
        result = invoke("verify", run_output)
    finally:
        writer.release()
    assert result.exit_code == 2
    assert f"{run_output.resolve()} is being written by an augcli run (PID {os.getpid()})" in result.output
    assert invoke("verify", run_output).exit_code == 0

    lock_file.write_text("999999999\n")  # the last run's PID, long gone
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from augcli.lock import OutputLock; "
                               f"lock = OutputLock.shared(Path({str(lock_file)!r}), Path('.')); "
                               "print('held', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        result = invoke("run", run_output.parent / "c.yaml")
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2 and "is in use by another augcli process (a verify?)" in result.output


def test_pipes_where_files_were_are_findings_and_errors_never_a_wait(tmp_path, dataset):
    """A FIFO in the input or in an output folder: nothing writes to it, so opening it to read would wait
    forever. The run records an error for that source; verify names the output it replaces."""
    import os
    import subprocess
    import sys

    os.mkfifo(dataset / "train" / "cat" / "stuck.png")
    cfg = write_config(tmp_path / "c.yaml", copies=1, workers=2, image={"pipeline": PIPELINE})
    run = subprocess.run([sys.executable, "-m", "augcli", "run", str(cfg), "--json"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["errors"] == [{"source": "train/cat/stuck.png", "reason": (
        "not a regular file (a pipe, socket or device): remove it or exclude it")}]
    victim = tmp_path / "out" / "train" / "dog" / "img_01__aug0.png"
    victim.unlink()
    os.mkfifo(victim)
    check = subprocess.run([sys.executable, "-m", "augcli", "verify", str(tmp_path / "out")], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 1, check.stderr
    assert ("unreadable: train/dog/img_01__aug0.png: cannot read it (not a regular file (a pipe, socket or "
            "device)): check its permissions and the disk") in check.stderr


def test_files_it_may_not_read_are_named_with_what_to_do(tmp_path, dataset):
    """chmod 000 on a source and on an output (root loses its power to ignore that): the run records an
    error naming the source and the fix, verify calls the output unreadable, not "changed", and once
    both are readable again the next run completes and verifies."""
    import os
    import subprocess
    import sys

    from tests.conftest import without_root_powers

    drop = without_root_powers()
    cfg = write_config(tmp_path / "c.yaml", copies=1, workers=2, image={"pipeline": PIPELINE})
    source = dataset / "train" / "cat" / "img_00.png"
    source.chmod(0)
    run = subprocess.run([*drop, sys.executable, "-m", "augcli", "run", str(cfg), "--json"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["errors"] == [{"source": "train/cat/img_00.png", "reason": (
        "cannot read it (Permission denied): make it readable (chmod u+r) or exclude it")}]
    assert ("failed: train/cat/img_00.png: cannot read it (Permission denied): make it readable (chmod u+r) or "
            "exclude it") in run.stderr
    victim = tmp_path / "out" / "train" / "dog" / "img_01__aug0.png"
    victim.chmod(0)
    check = subprocess.run([*drop, sys.executable, "-m", "augcli", "verify", str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 1, check.stderr
    assert ("unreadable: train/dog/img_01__aug0.png: cannot read it (Permission denied): check its permissions "
            "and the disk") in check.stderr
    assert "differs" not in check.stderr and check.stderr.count("unreadable: ") == 1
    source.chmod(0o644)
    os.chmod(victim, 0o644)
    again = subprocess.run([*drop, sys.executable, "-m", "augcli", "run", str(cfg), "--json"], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["outputs_written"] == 1  # the source that failed; the rest reused
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_json_report_and_quiet_for_ci(run_output):
    """`--json`: the report on stdout for a script; `--quiet`: no summary line; problems on stderr either way."""
    clean = subprocess.run([sys.executable, "-m", "augcli", "verify", run_output, "--json"], capture_output=True,
                           text=True)
    assert clean.returncode == 0 and clean.stderr == ""
    report = json.loads(clean.stdout)
    assert report["status"] == "all match" and report["exit_code"] == 0 and report["problems"] == []
    assert report["counts"] == {"manifest_entries": 20, "checked": 20, "re_derived": 12, "problems": 0}
    assert report["output"] == str(run_output) and report["version_changes"] == []

    victim = run_output / "train" / "dog" / "img_01__aug1.png"
    victim.write_bytes(victim.read_bytes()[:-20])
    (run_output / "val" / "cat" / "notes.txt").write_text("mine")
    bad = subprocess.run([sys.executable, "-m", "augcli", "verify", run_output, "--json", "--quiet"],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["status"] == "problems" and report["exit_code"] == 1 and report["counts"]["problems"] == 2
    assert sorted((p["path"], p["problem"]) for p in report["problems"]) == [
        ("train/dog/img_01__aug1.png", "changed"), ("val/cat/notes.txt", "stray")]
    assert sorted(bad.stderr.splitlines()) == sorted(
        f"{p['problem']}: {p['path']}: {p['detail']}" for p in report["problems"])

    quiet = subprocess.run([sys.executable, "-m", "augcli", "verify", run_output, "-q"], capture_output=True, text=True)
    assert quiet.returncode == 1 and quiet.stdout == "" and quiet.stderr == bad.stderr
    (run_output / "val" / "cat" / "notes.txt").unlink()
    victim.unlink()
    missing = subprocess.run([sys.executable, "-m", "augcli", "verify", run_output, "-q"], capture_output=True,
                             text=True)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == ("missing: train/dog/img_01__aug1.png: listed in the manifest but not on disk\n")
