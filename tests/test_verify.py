import json

import pytest

from augcli.verify import verify
from tests.conftest import invoke, write_config

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
