"""Hostile-user catalogue, issue 20 items 6-11: what a run writes, counts and records must be true."""

from __future__ import annotations

import json
import math
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

@pytest.mark.parametrize("name", ["quickstart", "joined-table", "detection_coco", "detection_yolo", "mix", "voc"])
def test_item6_noop_rerun_rewrites_nothing(name, tmp_path, monkeypatch):
    from augcli import tables

    if name == "joined-table":  # the quickstart's reviews.csv made in ranges of 4 rows, joined at the end
        monkeypatch.setattr(tables, "RANGE_ROWS", 4)
    config = _voc_config(tmp_path) if name == "voc" else CONFIGS / f"{name.replace('joined-table', 'quickstart')}.yaml"
    out = tmp_path / "out"
    args = ("run", config, "--output", out, "--copies", "1", "--workers", "1", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    rows = read_manifest(out / MANIFEST_NAME)
    assert any(r.get("aggregate") for r in rows)  # metadata.csv, COCO JSONs, data.yaml, soft_labels.csv, ImageSets
    if name == "joined-table":
        assert len(tables.row_ranges(str(SAMPLE_DATA / "train/reviews.csv"), "utf-8", ",")) == 5  # 20 rows
        assert "train/reviews.csv#rows=4" in (out / STATE_DIR / "journal.jsonl").read_text()
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


# ---- item 11: the recorded parameters say what was drawn --------------------------------------------------

def _range_params() -> list[tuple[str, str, float]]:
    """(step, parameter, one-point value) for every range parameter (a default of two numbers) of every step
    `augcli transforms image` lists: the value is 30% of the way into the default range (its low end for ints)."""
    import inspect
    from numbers import Number

    from augcli.modalities import image, image_steps

    found = []
    for entry in image.describe_steps():
        if entry["composition"]:
            continue
        for p in inspect.signature(image_steps.step_class(entry["name"]).__init__).parameters.values():
            d = p.default
            if isinstance(d, tuple) and len(d) == 2 and all(isinstance(x, Number) and not isinstance(x, bool)
                                                            for x in d):
                value = d[0] if all(isinstance(x, int) for x in d) else round(d[0] + (d[1] - d[0]) * 0.3, 3)
                found.append((entry["name"], p.name, value))
    return found


H, W = 64, 80
#: Two numbers that are not a range to draw from (a size, a grid): nothing is drawn.
NOT_A_RANGE = {("CLAHE", "tile_grid_size"): "the tile grid", ("Morphological", "scale"): "the kernel's size",
               ("RandomGridShuffle", "grid"): "the grid", ("GridDropout", "shift_xy"): "the grid's offset",
               ("AdvancedBlur", "beta_limit"): "a range that must hold 1.0 strictly inside: never one point",
               ("AdvancedBlur", "noise_limit"): "drawn once per kernel element: the recorded kernel holds them"}
#: Steps that need data a pipeline step cannot have here (reference images, a font file).
NEEDS_DATA = {"FDA": "reference images", "HistogramMatching": "reference images",
              "PixelDistributionAdaptation": "reference images", "TextImage": "a font file"}
#: What else the step needs to use that parameter.
EXTRA = {"RandomResizedCrop": {"size": [32, 32]}, ("GridDistortion", "distort_limit"): {"normalized": False},
         "ConstrainedCoarseDropout": {"bbox_labels": [0]}, ("ChromaticAberration", "secondary_distortion_limit"):
         {"mode": "red_blue"},
         ("Illumination", "center_range"): {"mode": "gaussian"}, ("Illumination", "sigma_range"): {"mode": "gaussian"}}
#: Where the library records the value drawn in other units: (key, value) from the one-point value.
DERIVED = {
    ("AdvancedBlur", "rotate_limit"): lambda v: ("angle", math.radians(v)),
    ("CoarseDropout", "hole_height_range"): lambda v: ("hole_heights", int(v * H)),  # every hole's
    ("CoarseDropout", "hole_width_range"): lambda v: ("hole_widths", int(v * W)),
    ("ConstrainedCoarseDropout", "num_holes_range"): lambda v: ("num_holes_per_obj", v),
    ("Erasing", "scale"): lambda v: ("erase_area", v * H * W),
    ("RandomResizedCrop", "scale"): lambda v: ("target_area", v * H * W),
    # relative to the object's box (40 x 30 px): as pixels, the holes' size and the crop's largest shift
    ("ConstrainedCoarseDropout", "hole_height_range"): lambda v: ("holes", lambda holes: all(
        y2 - y1 == int(v * 30) for _, y1, _, y2 in holes) and holes),
    ("ConstrainedCoarseDropout", "hole_width_range"): lambda v: ("holes", lambda holes: all(
        x2 - x1 == int(v * 40) for x1, _, x2, _ in holes) and holes),
    ("RandomCropNearBBox", "max_part_shift"): lambda v: ("h_max_shift", round(v * 30)),
    ("GridDistortion", "distort_limit"): lambda v: ("steps_x", [1 + v] * 6),
    ("RandomBrightnessContrast", "brightness_limit"): lambda v: ("beta", v * 255),
    ("RandomBrightnessContrast", "contrast_limit"): lambda v: ("alpha", 1 + v),
    ("RandomScale", "scale_limit"): lambda v: ("scale", 1 + v),
    ("ShiftScaleRotate", "shift_limit"): lambda v: ("translate", {"x": int(v * W), "y": int(v * H)}),
    ("ShiftScaleRotate", "scale_limit"): lambda v: ("scale", {"x": 1 + v, "y": 1 + v}),
    ("ThinPlateSpline", "scale_range"): lambda v: ("scale", v / 10),
}


def _holds(recorded, value) -> bool:
    if callable(value):
        return bool(value(recorded))
    if isinstance(value, dict | list):
        return recorded == pytest.approx(value, rel=1e-5)
    if isinstance(recorded, bool):
        return False
    if isinstance(recorded, int | float):
        return recorded == pytest.approx(value, rel=1e-5, abs=1e-9)
    if isinstance(recorded, dict):
        return any(_holds(v, value) for v in recorded.values())
    if isinstance(recorded, list):
        return any(_holds(v, value) for v in recorded)
    return False


@pytest.mark.parametrize(("step", "param", "value"), _range_params(), ids=lambda v: str(v))
def test_item11_every_step_with_a_one_point_range_records_that_value(step, param, value):
    import numpy as np

    from augcli.annotations import transform
    from augcli.annotations.rules import NEEDS
    from augcli.manifest import applied_steps
    from augcli.modalities import image
    from augcli.seeding import generators

    if (step, param) in NOT_A_RANGE or step in NEEDS_DATA:
        pytest.skip(NOT_A_RANGE.get((step, param)) or f"{step} needs {NEEDS_DATA[step]}")
    config = {**EXTRA.get(step, {}), **EXTRA.get((step, param), {}), param: [value, value], "p": 1.0}
    pixels = (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)
    if step in NEEDS:  # through the annotated pipeline, with an object (and its mask)
        pipeline = transform.pipeline_for([{step: config}])
        data = {"bboxes": np.array([[10.0, 8.0, 40.0, 30.0]]), "object_index": [0],
                "keypoints": np.zeros((0, 2)), "point_index": [], "cropping_bbox": [10, 8, 50, 38]}
        if NEEDS[step] == "mask":
            data["mask"] = np.pad(np.ones((30, 40), np.uint8), ((8, H - 38), (10, W - 50)))
    else:
        pipeline, data = image.build_pipeline([{step: config}]), {}
    pipeline.set_random_state(*generators(11))
    (recorded,) = applied_steps(pipeline(image=pixels, **data)["applied_transforms"])
    name, params = recorded["name"], recorded["params"]
    key, expected = DERIVED[(step, param)](value) if (step, param) in DERIVED else (None, value)
    assert name == step
    assert _holds(params[key] if key else params, expected), f"{step}({param}={value}) recorded {params}"


def test_item11_rotate_affine_and_the_bbox_safe_crop_say_their_angle_scale_and_box():
    import numpy as np

    from augcli.manifest import applied_steps
    from augcli.modalities import image
    from augcli.preview import _short_params
    from augcli.seeding import generators

    pipeline = image.build_pipeline([
        {"Rotate": {"limit": [12, 12], "p": 1.0}},
        {"Affine": {"rotate": [-7, -7], "scale": [1.25, 1.25], "translate_px": [3, 3], "shear": [4, 4], "p": 1.0}}])
    pipeline.set_random_state(*generators(1))
    rotate, affine = applied_steps(pipeline(image=np.zeros((H, W, 3), np.uint8))["applied_transforms"])
    assert rotate["params"]["angle"] == 12.0 and len(rotate["params"]["matrix"]) == 3  # the matrix stays too
    assert affine["params"]["rotate"] == -7.0 and affine["params"]["scale"] == {"x": 1.25, "y": 1.25}
    assert affine["params"]["translate"] == {"x": 3, "y": 3}
    assert affine["params"]["shear"] == {"x": -4.0, "y": -4.0}  # as albumentations builds its matrix: negated
    assert "angle=12.0" in _short_params(rotate["params"]) and "matrix" not in _short_params(rotate["params"])
    assert "scale={x: 1.25, y: 1.25}" in _short_params(affine["params"])
    assert "translate={x: 3, y: 3}" in _short_params(affine["params"])
    crop = {"name": "RandomSizedBBoxSafeCrop", "params": {"shape": [H, W, 3], "interpolation": 1,
                                                         "crop_coords": [5, 0, 62, 34]}}
    assert _short_params(crop["params"]) == "interpolation=1, crop_coords=[5, 0, 62, 34]"
