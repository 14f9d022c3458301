"""Hostile-user catalogue, issue 20 items 6-11: what a run writes, counts and records must be true."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from augcli.manifest import MANIFEST_NAME, RUN_NAME, STATE_DIR, read_manifest
from tests.conftest import SAMPLE_DATA, invoke

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of an output but augcli's own state and run.json (which records each run): mtime_ns, bytes."""
    return {p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(out.rglob("*")) if p.is_file()
            and not p.relative_to(out).as_posix().startswith(STATE_DIR + "/") and p.name != RUN_NAME}


def _voc_config(tmp_path: Path) -> Path:
    config = tmp_path / "voc.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(SAMPLE_DATA / "detection" / "voc"), "output": str(tmp_path / "unused"), "seed": 3,
        "copies": 2, "image": {"include": ["**/*.jpg"], "annotations": {"format": "voc"},
                               "pipeline": [{"HorizontalFlip": {"p": 0.5}}]}}))
    return config


# ---- item 6: a no-op re-run into a complete output writes nothing -------------------------------------------

@pytest.mark.parametrize("name", ["quickstart", "detection_coco", "detection_yolo", "mix", "voc"])
def test_item6_noop_rerun_rewrites_nothing(name, tmp_path):
    config = _voc_config(tmp_path) if name == "voc" else CONFIGS / f"{name}.yaml"
    out = tmp_path / "out"
    args = ("run", config, "--output", out, "--copies", "1", "--workers", "1", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    aggregates = [r["output"] for r in read_manifest(out / MANIFEST_NAME) if r.get("aggregate")]
    assert aggregates  # metadata.csv, COCO JSONs, data.yaml, soft_labels.csv, ImageSets lists
    before = _files(out)
    again = invoke(*args)
    summary = json.loads(again.stdout)
    assert again.exit_code == 0, summary["errors"]
    assert _files(out) == before  # bytes and mtime_ns of every file, manifest.jsonl included
    counts = summary["counts"]
    assert counts["files_written"] == counts["outputs_written"] == counts["originals_written"] == 0
    assert counts["reused"] == len(read_manifest(out / MANIFEST_NAME))
    text = invoke("run", config, "--output", out, "--copies", "1", "--workers", "1").stdout
    assert "0 augmented + 0 originals/copies = 0 files" in text


# ---- item 10: COCO area and bbox are those of the polygon as written ---------------------------------------

def test_item10_coco_area_and_bbox_match_pycocotools_on_the_written_polygons(tmp_path):
    from pycocotools import mask as mask_utils

    out = tmp_path / "out"
    result = invoke("run", CONFIGS / "detection_coco.yaml", "--output", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    checked = 0
    for path in sorted((out / "annotations").glob("*.json")):
        data = json.loads(path.read_text())
        sizes = {image["id"]: (image["height"], image["width"]) for image in data["images"]}
        for ann in data["annotations"]:
            height, width = sizes[ann["image_id"]]
            seg = ann.get("segmentation")
            if isinstance(seg, list) and seg:
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
                xs = [v for p in seg for v in p[0::2]]
                ys = [v for p in seg for v in p[1::2]]
                box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                assert ann["bbox"] == pytest.approx(box, abs=0.006), (path.name, ann["id"])
            elif isinstance(seg, dict):
                rle = mask_utils.frPyObjects(seg, height, width) if isinstance(seg["counts"], list) else seg
            else:
                assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3], abs=0.01)
                continue
            assert ann["area"] == pytest.approx(float(mask_utils.area(rle)), abs=0.006), (path.name, ann["id"])
            checked += 1
    assert checked >= 30  # the config's output holds 36 annotations, most with polygons


# ---- item 7: errors counted and worded by what they are ---------------------------------------------------

def test_item7_two_bad_image_entries_and_a_good_one_are_not_2_of_1_sources_failed(tmp_path):
    data = tmp_path / "coco"
    (data / "images").mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "detection/coco/images/val/rocket.jpg", data / "images/rocket.jpg")
    coco = json.loads((SAMPLE_DATA / "detection/coco/annotations/instances_val.json").read_text())
    coco["images"] += [{"id": 104, "width": 256, "height": 171},  # no file_name
                       {"id": 105, "file_name": "gone.jpg", "width": 256, "height": 171}]  # no such file
    (data / "annotations").mkdir()
    (data / "annotations/instances.json").write_text(json.dumps(coco))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"input": str(data), "output": str(tmp_path / "out"), "copies": 1,
                                      "workers": 1, "image": {"annotations": {"format": "coco"},
                                                              "pipeline": [{"HorizontalFlip": {"p": 1.0}}]}}))
    result = invoke("run", config)
    assert result.exit_code == 1  # the input has problems: said, and the exit code says so
    assert "sources failed" not in result.stdout
    assert "2 image entries of annotations/instances.json left out (listed in run.json)" in result.stdout
    summary = json.loads(invoke("run", config, "--json").stdout)
    assert summary["counts"]["sources"] == 1
    assert summary["counts"]["failed"] == 0 and summary["counts"]["problems"] == 2
    assert [e["kind"] for e in summary["errors"]] == ["image entry", "image entry"]
    assert all(e["source"] == "annotations/instances.json" for e in summary["errors"])


# ---- item 8: the plan counts every file the run writes ----------------------------------------------------

@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda c: c.stem)
def test_item8_planned_files_are_the_files_the_run_writes(config, tmp_path):
    out = tmp_path / "out"
    args = ("--output", out, "--copies", "1", "--workers", "1", "--json")
    planned = json.loads(invoke("run", config, "--dry-run", *args).stdout)["counts"]["planned_files"]
    result = invoke("run", config, *args)
    assert result.exit_code == 0, result.output
    written = {row["output"] for row in read_manifest(out / MANIFEST_NAME)}
    assert planned == len(written)
    assert json.loads(result.stdout)["counts"]["files_written"] == len(written)


@pytest.mark.parametrize(("name", "files"), [("quickstart", 117), ("detection_yolo", 27), ("speech", 52)])
def test_item8_validate_says_the_files_the_issue_counted(name, files):
    text = invoke("validate", CONFIGS / f"{name}.yaml").stdout
    assert f"  files to write: {files} (" in text


# ---- item 9: the files of a layout travel with it ------------------------------------------------------------

LABELMAP = b"# label:color_rgb:parts:actions\nbackground:0,0,0::\nrocket:128,0,0::\ntower:0,128,0::\n"


@pytest.mark.parametrize(("layout", "companions"), [
    ("voc", {"labelmap.txt": LABELMAP, "README.md": b"A tiny VOC set\n", "LICENSE": b"CC-BY-4.0\n"}),
    ("yolo", {"classes.txt": b"person\ncat\n", "labels/train/classes.txt": b"person\ncat\n", "obj.names": b"cat\n"}),
    ("coco", {"LICENSE.txt": b"CC-BY-4.0\n", "annotations/README": b"instances_*.json: boxes, polygons\n"}),
])
def test_item9_files_of_a_layout_travel_with_it_byte_for_byte(layout, companions, tmp_path):
    data = tmp_path / layout
    shutil.copytree(SAMPLE_DATA / "detection" / layout, data)
    for name, blob in companions.items():
        (data / name).write_bytes(blob)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"input": str(data), "output": str(tmp_path / "out"), "copies": 1,
                                      "workers": 1, "image": {"annotations": {"format": layout},
                                                              "pipeline": [{"HorizontalFlip": {"p": 1.0}}]}}))
    planned = json.loads(invoke("run", config, "--dry-run", "--json").stdout)["counts"]["planned_files"]
    result = invoke("run", config, "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, summary["errors"]
    assert summary["counts"]["unmatched_files"] == 0  # labelmap.txt was dropped: unmatched_files 1, nothing said
    out = tmp_path / "out"
    rows = {row["output"]: row for row in read_manifest(out / MANIFEST_NAME)}
    for name, blob in companions.items():
        assert (out / name).read_bytes() == blob
        assert rows[name]["aggregate"] is True and rows[name]["source"] == name
        assert rows[name]["sha256"] == rows[name]["source_sha256"]
    assert planned == len(rows)
    assert invoke("verify", out).exit_code == 0
