"""End-to-end runs on real photos: exact outputs, reproducibility, splits, failures, re-runs."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import augcli
from augcli.manifest import STATE_DIR, read_manifest
from tests.conftest import invoke, make_image_folder, write_config

RANDOM_PIPELINE = [
    {"HorizontalFlip": {"p": 0.5}},
    {"Rotate": {"limit": 20, "p": 0.7}},
    {"RandomBrightnessContrast": {"p": 0.7}},
    {"OneOf": {"p": 0.5, "transforms": [{"GaussianBlur": {}}, {"MotionBlur": {}}]}},
]


def output_hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "run.json" and STATE_DIR not in p.relative_to(out).parts  # lock, journal
    }


def test_horizontal_flip_outputs_equal_fliplr_and_are_recorded(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 1.0}}]})
    result = invoke("run", cfg, "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = read_manifest(tmp_path / "out" / "manifest.jsonl")
    augmented = [r for r in rows if r["copy"] is not None]
    assert len(augmented) == 6 * 2
    for row in augmented:
        source = cv2.imread(str(dataset / row["source"]), cv2.IMREAD_UNCHANGED)
        output_path = tmp_path / "out" / row["output"]
        output = cv2.imread(str(output_path), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(output, np.fliplr(source))
        assert row["transforms"] == [{"name": "HorizontalFlip", "params": {"shape": list(source.shape)}}]
        assert row["sha256"] == hashlib.sha256(output_path.read_bytes()).hexdigest()
        assert row["modality"] == "image" and row["split"] == "train"
        assert row["label"] == row["source"].split("/")[1]
        assert row["output"] == row["source"].replace(".png", f"__aug{row['copy']}.png")


def test_one_and_two_workers_write_identical_bytes(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=3, seed=11, image={"pipeline": RANDOM_PIPELINE})
    assert invoke("run", cfg, "--workers", "1", "--output", tmp_path / "w1").exit_code == 0
    assert invoke("run", cfg, "--workers", "2", "--output", tmp_path / "w2").exit_code == 0
    one, two = output_hashes(tmp_path / "w1"), output_hashes(tmp_path / "w2")
    assert len(one) == 6 * 4 + 2 + 1  # 6 train x (3 copies + original), 2 val copied, manifest
    assert one == two
    journal = Path(STATE_DIR) / "journal.jsonl"  # augcli's own records are reproducible too
    assert (tmp_path / "w1" / journal).read_bytes() == (tmp_path / "w2" / journal).read_bytes()
    # the pipeline really is random: copies of one source differ
    assert len({one[f"train/cat/img_00__aug{k}.png"] for k in range(3)}) == 3


def test_seed_changes_outputs_and_same_seed_reproduces(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": RANDOM_PIPELINE})
    runs = {}
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        assert invoke("run", cfg, "--seed", seed, "--output", tmp_path / name).exit_code == 0
        runs[name] = {k: v for k, v in output_hashes(tmp_path / name).items() if "__aug" in k}
    assert runs["a"] == runs["b"]
    changed = [k for k in runs["a"] if runs["a"][k] != runs["c"][k]]
    assert len(changed) >= len(runs["a"]) // 2


def test_val_is_copied_unchanged_and_labels_survive(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": RANDOM_PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in (out / "val").rglob("*")) == [
        "val/cat", "val/cat/img_00.png", "val/dog", "val/dog/img_00.png"]
    for rel in ["val/cat/img_00.png", "val/dog/img_00.png", "train/cat/img_01.png"]:
        assert (out / rel).read_bytes() == (dataset / rel).read_bytes()
    rows = read_manifest(out / "manifest.jsonl")
    val_rows = [r for r in rows if r["split"] == "val"]
    assert [(r["source"], r["copy"], r["transforms"], r["label"]) for r in val_rows] == [
        ("val/cat/img_00.png", None, [], "cat"), ("val/dog/img_00.png", None, [], "dog")]
    assert {r["label"] for r in rows if r["split"] == "train"} == {"cat", "dog"}
    assert all(r["output"].startswith(f"train/{r['label']}/") for r in rows if r["split"] == "train")


def test_splits_config_can_augment_val_and_leave_test_out(tmp_path):
    make_image_folder(tmp_path / "data", {"train/a": 1, "val/a": 1, "test/a": 1})
    cfg = write_config(tmp_path / "c.yaml", splits={"augment": ["train", "val"], "copy": []},
                       image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    result = augcli.run(cfg)
    assert sorted(r for r in result.plan.output_paths()) == [
        "train/a/img_00.png", "train/a/img_00__aug0.png", "val/a/img_00.png", "val/a/img_00__aug0.png"]
    assert result.discovery.left_out_splits == {"test": 1}
    assert not (tmp_path / "out" / "test").exists()


def test_bad_files_become_error_entries_and_the_rest_is_written(tmp_path, dataset):
    train = dataset / "train" / "cat"
    (train / "empty.png").write_bytes(b"")
    (train / "truncated.png").write_bytes((train / "img_00.png").read_bytes()[:200])
    (train / "notes.jpg").write_text("these are my notes, not a photo\n")
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg, "--workers", "2")
    assert result.exit_code == 1
    assert "failed: train/cat/empty.png: file is empty (0 bytes)" in result.output
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert sorted(e["source"] for e in run["errors"]) == [
        "train/cat/empty.png", "train/cat/notes.jpg", "train/cat/truncated.png"]
    assert all("cannot decode" in e["reason"] for e in run["errors"] if "empty" not in e["source"])
    assert run["counts"]["failed"] == 3 and run["status"] == "complete"
    rows = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len([r for r in rows if r["copy"] is not None]) == 6 * 2
    assert not any("empty" in r["source"] or "notes" in r["source"] for r in rows)
    assert not (tmp_path / "out" / "train" / "cat" / "notes.jpg").exists()  # a bad source is not kept


def test_on_error_fail_stops_at_the_first_failure(tmp_path, dataset):
    (dataset / "train" / "cat" / "img_01.png").write_bytes(b"broken")
    cfg = write_config(tmp_path / "c.yaml", on_error="fail", image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    result = invoke("run", cfg, "--workers", "1")
    assert result.exit_code == 1
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["status"] == "stopped"
    assert [r["source"] for r in read_manifest(tmp_path / "out" / "manifest.jsonl")] == ["train/cat/img_00.png"] * 2


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, dataset):
    (dataset / "README.txt").write_text("not an image")
    cfg = write_config(tmp_path / "c.yaml", copies=4, image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg, "--dry-run")
    assert result.exit_code == 0
    assert "sources: 8 (6 to augment, 2 to copy unchanged)" in result.output
    assert "by split: train 6, val 2" in result.output
    assert "by label: cat 4, dog 4" in result.output
    assert "files to write: 32 (24 augmented, 6 originals kept, 2 copied unchanged)" in result.output
    assert "ignored: 1 files matching no include pattern" in result.output
    assert not (tmp_path / "out").exists()


def test_json_summary_on_stdout(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg, "--json")
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete" and summary["exit_code"] == 0
    assert summary["counts"]["outputs_written"] == 12 and summary["counts"]["originals_written"] == 8
    assert summary["breakdown"]["label"] == {"cat": 4, "dog": 4}


def test_rerun_with_fewer_copies_removes_the_stale_outputs(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=3, image={"pipeline": RANDOM_PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    assert (tmp_path / "out" / "train" / "cat" / "img_00__aug2.png").exists()
    result = invoke("run", cfg, "--copies", "1")
    assert result.exit_code == 0
    assert "removed 12 files that this run no longer lists" in result.output
    assert sorted(p.name for p in (tmp_path / "out" / "train" / "cat").iterdir())[:2] == [
        "img_00.png", "img_00__aug0.png"]
    assert set(output_hashes(tmp_path / "out")) == {
        r["output"] for r in read_manifest(tmp_path / "out" / "manifest.jsonl")} | {"manifest.jsonl"}


def test_output_folder_with_foreign_files_is_refused(tmp_path, dataset):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert "already holds files that augcli did not write (precious.txt, and no manifest.jsonl)" in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["precious.txt"]
    (tmp_path / "out" / "precious.txt").unlink()
    (tmp_path / "out" / "train" / "cat" / "deeper").mkdir(parents=True)
    (tmp_path / "out" / "train" / "cat" / "deeper" / "notes.md").write_text("mine")
    result = invoke("run", cfg)
    assert result.exit_code == 2 and "(train/cat/deeper/notes.md, and no manifest.jsonl)" in result.output
    assert (tmp_path / "out" / "train" / "cat" / "deeper" / "notes.md").read_text() == "mine"


def test_output_folder_of_empty_folders_is_used(tmp_path, dataset):
    """Folders made ready for the run hold nothing augcli could lose: it writes into them."""
    for split in ("train/cat", "train/dog", "val/extra"):
        (tmp_path / "out" / split).mkdir(parents=True)
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "train" / "cat" / "img_00__aug0.png").is_file()
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_output_name_collision_is_refused_before_writing(tmp_path):
    make_image_folder(tmp_path / "data", {"cats": 1})
    src = tmp_path / "data" / "cats"
    (src / "img_00__aug0.png").write_bytes((src / "img_00.png").read_bytes())
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert ("output name collision: cats/img_00__aug0.png would be written for both cats/img_00.png (copy 0) and "
            "cats/img_00__aug0.png (original); rename or exclude one of the sources") in result.output
    assert not (tmp_path / "out").exists()


def test_format_and_quality_change_the_output_encoding(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 1}}], "format": "jpg",
                                                  "quality": 80})
    assert invoke("run", cfg).exit_code == 0
    out = tmp_path / "out" / "train" / "cat" / "img_00__aug0.jpg"
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    source = cv2.imread(str(dataset / "train" / "cat" / "img_00.png"))
    assert np.abs(cv2.imread(str(out)).astype(int) - np.fliplr(source)).mean() < 6
    assert (tmp_path / "out" / "train" / "cat" / "img_00.png").exists()  # originals keep their format


def test_no_matching_files_is_a_clear_error(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"include": ["**/*.tif"], "pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert "no files to process" in result.output and "'**/*.tif'" in result.output


@pytest.mark.parametrize("keep", [True, False])
def test_keep_originals(tmp_path, dataset, keep):
    cfg = write_config(tmp_path / "c.yaml", keep_originals=keep, image={"pipeline": RANDOM_PIPELINE})
    augcli.run(cfg)
    assert (tmp_path / "out" / "train" / "dog" / "img_00.png").exists() is keep
    assert (tmp_path / "out" / "val" / "dog" / "img_00.png").exists()  # copied splits are always placed


def test_sixteen_bit_gray_and_rgba_survive_a_run(tmp_path, photos):
    data = tmp_path / "data" / "train" / "mixed"
    data.mkdir(parents=True)
    gray16 = cv2.cvtColor(photos[0], cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    rgba = np.dstack([photos[1], np.full(photos[1].shape[:2], 90, np.uint8)])
    cv2.imwrite(str(data / "depth.png"), gray16)
    cv2.imwrite(str(data / "logo.png"), rgba)
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"VerticalFlip": {"p": 1}}]})
    assert invoke("run", cfg, "--workers", "2").exit_code == 0
    out = tmp_path / "out" / "train" / "mixed"
    np.testing.assert_array_equal(cv2.imread(str(out / "depth__aug0.png"), cv2.IMREAD_UNCHANGED), gray16[::-1])
    np.testing.assert_array_equal(cv2.imread(str(out / "logo__aug0.png"), cv2.IMREAD_UNCHANGED), rgba[::-1])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"copeis": 2}, "copeis: unknown key 'copeis' (did you mean 'copies'?)"),
        ({"image": {"pipeline": [{"HorizontalFlp": {}}]}}, "did you mean 'HorizontalFlip'?"),
        ({"image": {"pipeline": [{"Rotate": {"limit": "wide"}}]}}, "image.pipeline[0].Rotate.limit: Input should be"),
        ({"output": "data/augmented"}, "output: "),
    ],
)
def test_config_errors_exit_2_and_write_nothing(tmp_path, dataset, keys, message):
    keys.setdefault("image", {"pipeline": RANDOM_PIPELINE})
    cfg = write_config(tmp_path / "c.yaml", **keys)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_unwritable_output_is_a_clear_error(tmp_path, dataset):
    (tmp_path / "afile").write_text("a file, not a folder")
    cfg = write_config(tmp_path / "c.yaml", output="afile/out", image={"pipeline": RANDOM_PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert (f"error: cannot write to the output folder {tmp_path.resolve() / 'afile' / 'out'} (Not a directory): "
            "check its permissions and the disk, or choose another output") in result.output
    assert (tmp_path / "afile").read_text() == "a file, not a folder"
