"""Re-runs into the same output: what is kept, what is made again, what is removed (issue 8)."""

import errno
import json
import os
import shutil
import warnings

import pytest
import yaml

import augcli
from augcli import io as augcli_io
from augcli import job
from augcli.errors import RunStoppedError
from augcli.manifest import read_manifest
from tests.conftest import SAMPLE_DATA, invoke, make_image_folder, make_noisy, write_config
from tests.test_job import RANDOM_PIPELINE, output_hashes


@pytest.fixture
def cfg(tmp_path, dataset):
    return write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": RANDOM_PIPELINE})


def listed(out):
    return {r["output"] for r in read_manifest(out / "manifest.jsonl")}


def test_a_second_identical_run_keeps_everything_and_writes_nothing(tmp_path, cfg):
    first = augcli.run(cfg)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}
    second = augcli.run(cfg)
    assert second.status == "complete" and second.exit_code == 0
    assert second.reused == first.outputs_written + first.originals_written == 20
    assert second.outputs_written == second.originals_written == second.stale_removed == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")} == before  # not rewritten
    assert json.loads((tmp_path / "out" / "run.json").read_text())["counts"]["reused"] == 20
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_fresh_rewrites_everything_with_the_same_bytes(tmp_path, cfg):
    augcli.run(cfg)
    before = output_hashes(tmp_path / "out")
    result = invoke("run", cfg, "--fresh", "--json")
    summary = json.loads(result.stdout)
    assert summary["counts"]["reused"] == 0 and summary["counts"]["outputs_written"] == 12
    assert output_hashes(tmp_path / "out") == before


def test_a_new_seed_remakes_augmented_outputs_but_keeps_copied_splits(tmp_path, cfg):
    augcli.run(cfg)
    result = augcli.run(cfg, overrides={"seed": 7})
    assert result.reused == 2  # val/cat, val/dog: copied unchanged, the seed does not shape them
    assert result.outputs_written == 12 and result.originals_written == 6


def test_a_library_version_change_remakes_what_that_library_shapes(tmp_path, cfg, monkeypatch):
    augcli.run(cfg)
    real = job.library_versions
    monkeypatch.setattr(job, "library_versions", lambda c, m=None: {**real(c, m), "albumentations": "0.0.1"})
    result = augcli.run(cfg)
    assert result.reused == 2 and result.outputs_written == 12


def test_an_altered_or_deleted_output_is_made_again_alone(tmp_path, cfg):
    augcli.run(cfg)
    out = tmp_path / "out"
    clean = output_hashes(out)
    (out / "train" / "cat" / "img_01__aug1.png").write_bytes(b"scribbled over")
    (out / "train" / "dog" / "img_02__aug0.png").unlink()
    result = augcli.run(cfg)
    assert result.outputs_written == 4 and result.originals_written == 2  # two sources, all their outputs
    assert result.reused == 20 - 6
    assert output_hashes(out) == clean


def test_a_changed_source_is_made_again(tmp_path, cfg, dataset):
    augcli.run(cfg)
    shutil.copy(dataset / "train" / "cat" / "img_00.png", dataset / "train" / "cat" / "img_01.png")
    result = augcli.run(cfg)
    assert result.outputs_written == 2 and result.reused == 17
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_a_source_that_starts_failing_loses_its_old_outputs(tmp_path, cfg, dataset):
    """Issue 8 item 8: they were left behind unlisted (verify: stray), and no later run removed them."""
    augcli.run(cfg)
    out = tmp_path / "out"
    assert (out / "train" / "dog" / "img_01__aug1.png").exists()
    (dataset / "train" / "dog" / "img_01.png").write_bytes(b"not a png any more")
    result = augcli.run(cfg)
    assert result.exit_code == 1 and [e["source"] for e in result.errors] == ["train/dog/img_01.png"]
    assert not list((out / "train" / "dog").glob("img_01*"))
    assert set(output_hashes(out)) == listed(out) | {"manifest.jsonl"}
    assert invoke("verify", out).exit_code == 0


def test_rerun_keeps_audio_sidecars(tmp_path):
    """Issue 8 item 1: a second run deleted every transcript beside the copies."""
    speech = sorted((SAMPLE_DATA / "train" / "speech").glob("*.wav"))[:2]
    folder = tmp_path / "data" / "train" / "speech"
    folder.mkdir(parents=True)
    for wav in speech:
        shutil.copy(wav, folder)
        shutil.copy(wav.with_suffix(".txt"), folder)
    cfg = write_config(tmp_path / "c.yaml", copies=2, audio={"pipeline": [{"Gain": {"p": 1.0}}]})
    assert invoke("run", cfg).exit_code == 0
    result = invoke("run", cfg, "--copies", "1")  # a different plan: every task is made again
    assert result.exit_code == 0 and "removed 4 files" in result.output  # __aug1.wav and __aug1.txt only
    for wav in speech:
        assert (tmp_path / "out" / "train" / "speech" / f"{wav.stem}__aug0.txt").exists()
    assert invoke("run", cfg, "--copies", "1").exit_code == 0
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_audiofolder_metadata_is_an_aggregate_and_resumes_identically(tmp_path):
    speech = sorted((SAMPLE_DATA / "train" / "speech").glob("*.wav"))[:2]
    folder = tmp_path / "data" / "train" / "speech"
    folder.mkdir(parents=True)
    for wav in speech:
        shutil.copy(wav, folder)
    (folder / "metadata.csv").write_text("file_name,speaker\n" + "".join(f"{w.name},s{i}\n" for i, w in
                                                                         enumerate(speech)))
    cfg = write_config(tmp_path / "c.yaml", copies=2, audio={"pipeline": [{"Gain": {"p": 1.0}}]})
    augcli.run(cfg)
    meta = tmp_path / "out" / "train" / "speech" / "metadata.csv"
    first = meta.read_bytes()
    assert first.decode().splitlines()[1:] == [f"{w.stem}{s}.wav,s{i}" for i, w in enumerate(speech)
                                               for s in ("", "__aug0", "__aug1")]
    meta.unlink()
    result = augcli.run(cfg)
    assert result.reused == 6 and meta.read_bytes() == first
    row = [r for r in read_manifest(tmp_path / "out" / "manifest.jsonl") if r["output"].endswith("metadata.csv")]
    assert row[0]["metadata_rows"] == 6 and row[0]["copy"] is None


def test_disk_full_stops_the_run_with_one_message_and_the_next_run_resumes(tmp_path, cfg, monkeypatch):
    """Issue 8 item 3: a traceback, no run.json, a manifest cut mid-line, a folder refused for good."""
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 9:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(augcli_io.os, "replace", replace)
    with pytest.raises(RunStoppedError, match=r"^no space left on device writing .*out/train/.*\.png; ") as caught:
        augcli.run(cfg, overrides={"workers": 1})
    assert caught.value.exit_code == 1
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["status"] == "failed" and run["fatal"].startswith("no space left on device writing ")
    monkeypatch.setattr(augcli_io.os, "replace", real_replace)
    result = augcli.run(cfg, overrides={"workers": 1})
    assert result.status == "complete" and result.reused == 6  # 3 sources x (original + 2 copies) were done
    assert not list((tmp_path / "out").rglob("*.tmp"))
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_disk_full_in_the_cli_is_one_line_and_exit_1(tmp_path, cfg, monkeypatch):
    def replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(augcli_io.os, "replace", replace)
    result = invoke("run", cfg, "--workers", "1")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "error: no space left on device writing " in result.stderr
    assert str(tmp_path / "out") in result.stderr


def test_library_warnings_are_counted_once_per_message_and_not_printed(tmp_path, cfg, monkeypatch, capfd):
    from augcli.modalities import image

    make_noisy(monkeypatch, image, "process")
    result = invoke("run", cfg, "--workers", "1", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert "libpng" not in capfd.readouterr().err
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["warnings"] == [{"message": "UserWarning: resampled, this hurt execution time", "count": 8},
                               {"message": "libpng warning: iCCP: known incorrect sRGB profile", "count": 8}]
    loud = invoke("run", cfg, "--workers", "1", "--fresh")
    assert "library messages (2 distinct, all in run.json):" in loud.output
    assert "  8 x UserWarning: resampled, this hurt execution time" in loud.output


def test_library_messages_belong_to_the_source_that_emitted_them(tmp_path, cfg, monkeypatch):
    """Sources share a chunk (and a stderr sink): a message is counted for the one source that made it."""
    from augcli.modalities import image

    real, noisy_sources = image.process, []

    def noisy(task, config, rows, fragments=None):
        if task.item.relpath.endswith("img_01.png"):
            noisy_sources.append(task.item.relpath)
            warnings.warn("only this one", UserWarning, stacklevel=1)
            os.write(2, b"libpng warning: only this one too\n")
        return real(task, config, rows, fragments)

    monkeypatch.setattr(image, "process", noisy)
    result = augcli.run(cfg, overrides={"workers": 1})
    assert len(noisy_sources) == 2 and len(result.plan.tasks) == 8  # the same name in two label folders
    assert result.warning_list() == [{"message": "UserWarning: only this one", "count": 2},
                                     {"message": "libpng warning: only this one too", "count": 2}]


def test_an_absurd_plan_is_refused_at_once(tmp_path, cfg, monkeypatch):
    result = invoke("run", cfg, "--copies", "10000000", "--dry-run")
    assert result.exit_code == 2
    assert "copies: 10,000,000 copies of each source is more than augcli makes (100,000)" in result.output
    monkeypatch.setattr("augcli.plan.MAX_PLANNED_FILES", 1000)
    result = invoke("run", cfg, "--copies", "1000", "--dry-run")
    assert result.exit_code == 2
    assert "the plan would write about 6,008 files (6 sources x 1,000 copies), more than" in result.output
    # balance's copies per source and mixed outputs count too (they went past every limit)
    config = yaml.safe_load(cfg.read_text())
    write_config(cfg, **{**config, "balance": {"target": 10**8, "max_copies": 100_000}})
    result = invoke("validate", cfg)
    assert result.exit_code == 2, result.output
    assert "the plan would write about 600,008 files (6 sources with balance's copies), more than" in result.output
    write_config(cfg, **{**config, "balance": {"target": 10**8, "max_copies": 10**8}})
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "balance.max_copies: Input should be less than or equal to 100000" in result.output
    image = {**config["image"], "mix": {"method": "mixup", "copies": 500}}
    write_config(cfg, **{**config, "image": image})
    result = invoke("run", cfg, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "the plan would write about 3,020 files (6 sources x 2 copies, 3,000 mixed), more than" in result.output


def test_folders_of_older_versions_are_taken_over(tmp_path, cfg):
    """An output written before the journal existed: its manifest names the files to clean up."""
    augcli.run(cfg, overrides={"copies": 3})
    out = tmp_path / "out"
    shutil.rmtree(out / ".augcli")
    (out / "train" / "cat" / ".img_00__aug0.png.4242.tmp").write_bytes(b"half")
    result = augcli.run(cfg)
    assert result.reused == 0 and result.stale_removed == 6
    assert set(output_hashes(out)) == listed(out) | {"manifest.jsonl"}


def test_discovery_errors_count_as_failures(tmp_path, cfg, monkeypatch):
    from augcli.dataset import discover

    def with_errors(config):
        found = discover(config)
        found.errors = [{"source": "train/locked", "reason": "permission denied: cannot list the folder"}]
        return found

    monkeypatch.setattr(job, "discover", with_errors)
    result = augcli.run(cfg)
    assert result.exit_code == 1 and result.errors[0]["source"] == "train/locked"


def test_two_sources_and_the_lock_file(tmp_path):
    make_image_folder(tmp_path / "data", {"a": 2})
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    augcli.run(cfg)
    assert (tmp_path / "out" / ".augcli" / "lock").read_text().strip().isdigit()


def test_written_files_are_in_the_journal_before_they_have_their_name(tmp_path):
    seen = []
    target = tmp_path / "x.bin"
    with augcli_io.announcing_writes(lambda path: seen.append((path, os.path.exists(path)))):
        augcli_io.write_atomic(target, b"data")
    assert seen == [(str(target), False)] and target.read_bytes() == b"data"
    augcli_io.write_atomic(target, b"more")  # outside the block: no journal
    assert len(seen) == 1


def test_text_tables_and_lines_resume_by_their_file_hash(tmp_path):
    """Table rows and lines hash their sample, not the file: the journal records the file's own hash."""
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "train" / "reviews.csv", data)
    shutil.copy(SAMPLE_DATA / "train" / "quotes.txt", data)
    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"unit": "line",
                                                            "pipeline": [{"RandomWordAug": {"action": "swap"}}]})
    first = augcli.run(cfg)
    out = tmp_path / "out"
    clean = output_hashes(out)
    second = augcli.run(cfg)
    assert second.reused == first.outputs_written + first.originals_written and second.outputs_written == 0
    table = out / "train" / "reviews.csv"
    table.write_bytes(table.read_bytes() + b"tampered,row\n")
    third = augcli.run(cfg)
    assert 0 < third.outputs_written < first.outputs_written  # the table only
    assert output_hashes(out) == clean
    assert invoke("verify", out).exit_code == 0


def test_an_aggregate_that_cannot_be_made_is_an_error_entry(tmp_path):
    wav = sorted((SAMPLE_DATA / "train" / "speech").glob("*.wav"))[0]
    folder = tmp_path / "data" / "train" / "speech"
    folder.mkdir(parents=True)
    shutil.copy(wav, folder)
    (folder / "metadata.csv").write_bytes(b"file_name,speaker\n" + wav.name.encode() + b",caf\xe9\n")  # not UTF-8
    cfg = write_config(tmp_path / "c.yaml", audio={"pipeline": [{"Gain": {"p": 1.0}}]})
    result = invoke("run", cfg)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "failed: train/speech/metadata.csv: cannot make it: UnicodeDecodeError" in result.output
    assert (tmp_path / "out" / "train" / "speech" / f"{wav.stem}__aug0.wav").exists()
    assert not (tmp_path / "out" / "train" / "speech" / "metadata.csv").exists()


def test_a_stopped_run_lists_what_it_finished_and_leaves_nothing_unlisted(tmp_path, dataset):
    (dataset / "train" / "cat" / "img_01.png").write_bytes(b"broken")
    cfg = write_config(tmp_path / "c.yaml", on_error="fail", copies=2, image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg, "--workers", "2")
    assert result.exit_code == 1
    out = tmp_path / "out"
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    assert set(output_hashes(out)) == listed(out) | {"manifest.jsonl"}
    verified = invoke("verify", out)  # issue 20: an unfinished run is said to be so, exit 1; what it lists is true
    assert verified.exit_code == 1
    assert verified.output.startswith("the last run stopped at ") and "(on_error: fail)" in verified.output
    assert verified.output.rstrip().endswith("the last run did not finish, and every listed file matches")


@pytest.mark.parametrize("fails", [False, True], ids=["spooled", "spool-disk-full"])
def test_manifest_rows_spooled_out_of_memory_or_not_give_the_same_run(tmp_path, cfg, monkeypatch, fails):
    """Every manifest line goes through the spool file (nothing held in memory); a spool that cannot be
    written (disk full) keeps them in memory instead: the run, its resume and its manifest are the same."""
    from augcli import journal

    reference = augcli.run(cfg, overrides={"output": str(tmp_path / "ref"), "copies": 2})
    monkeypatch.setattr(journal.RowSpool, "HOLD", 0)
    spooled = []
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):  # os.pwrite is the spool's (and the lock's, for its PID)
        if data.startswith(b"{"):
            if fails:
                raise OSError(errno.ENOSPC, "No space left on device")
            spooled.append(data.count(b"\n"))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(journal.os, "pwrite", pwrite)
    first = augcli.run(cfg, overrides={"copies": 2})
    rows = read_manifest(tmp_path / "ref" / "manifest.jsonl")
    assert first.exit_code == 0 and first.outputs_written == reference.outputs_written
    assert read_manifest(tmp_path / "out" / "manifest.jsonl") == rows
    assert sum(spooled) == (0 if fails else len(rows))
    again = augcli.run(cfg, overrides={"copies": 2})  # the records come back from the journal through the spool
    assert again.reused == len(rows) and again.outputs_written == 0
    assert read_manifest(tmp_path / "out" / "manifest.jsonl") == rows


def test_a_config_object_changed_in_place_between_runs_remakes_what_it_changes(tmp_path, cfg):
    """The library API: the same Config object, edited, run again in one process (nothing cached by identity)."""
    config = augcli.load_config(cfg)
    first = augcli.run(config)
    config.image.quality = 20
    second = augcli.run(config)
    copied = sum(task.item.action != "augment" for task in second.plan.tasks)  # sources only placed: kept
    assert copied and second.outputs_written == first.outputs_written and second.reused == copied
