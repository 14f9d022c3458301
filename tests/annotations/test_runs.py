"""Whole runs on annotated datasets: bad label files, steps that need annotations, workers,
the example configs, verify and preview."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from augcli.verify import verify
from tests.annotations.conftest import DETECTION, run
from tests.conftest import invoke, write_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_bad_annotation_files_are_error_entries_naming_file_and_line(tmp_path, yolo_data, coco_data):
    (yolo_data / "labels/train/coffee.txt").write_text("3 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2\n")
    (yolo_data / "labels/train/chelsea.txt").write_text("7 0.5 nan 0.2 0.2\n")
    result, _, rows = run(tmp_path, yolo_data, [{"HorizontalFlip": {"p": 1.0}}])
    reasons = {e["source"]: e["reason"] for e in result.errors}
    assert result.exit_code == 1
    assert reasons["images/train/coffee.jpg"].startswith("labels/train/coffee.txt:2: 4 columns")
    assert reasons["images/train/chelsea.jpg"].startswith("labels/train/chelsea.txt:1: NaN")
    assert "images/train/astronaut__aug0.jpg" in rows  # the rest of the run went on

    path = coco_data / "annotations/instances_train.json"
    coco = json.loads(path.read_text())
    coco["images"].append({"id": 999, "file_name": "missing.jpg", "width": 10, "height": 10})
    coco["annotations"][0]["bbox"] = [300.0, 10.0, 20.0, 20.0]  # the astronaut's person, right of the image
    path.write_text(json.dumps(coco))
    (coco_data / "annotations/instances_val.json").write_text('{"images": [{"id": 1, "file_name": "rocket.jpg"')
    result, _out, rows = run(tmp_path, coco_data, [], out="o2")
    reasons = [(e["source"], e["reason"]) for e in result.errors]
    assert ("annotations/instances_train.json",
            "image id 999: file_name 'missing.jpg' not found at images/train/missing.jpg") in reasons
    assert ("images/train/astronaut.jpg", "annotations/instances_train.json: annotation id 1000: bbox "
            "[300.0, 10.0, 20.0, 20.0] lies outside the 256x256 image") in reasons
    (_val_source, val_reason), = [r for r in reasons if r[0] == "annotations/instances_val.json"]
    assert val_reason.startswith("not valid JSON at line 1, column ")
    assert "images/val/rocket.jpg" not in rows  # its labels are unknown: left out, not written without them
    assert "images/train/coffee__aug0.jpg" in rows


def test_cli_reports_bad_labels_without_a_traceback(tmp_path):
    data = tmp_path / "data"
    import shutil

    shutil.copytree(DETECTION / "voc", data)
    (data / "Annotations/coffee.xml").write_text("<annotation><object></annotation>")
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    result = invoke("run", cfg, "--workers", "1")
    assert result.exit_code == 1
    assert "JPEGImages/coffee.jpg: Annotations/coffee.xml:1: not well-formed XML" in result.output
    assert "Traceback" not in result.output


def test_steps_needing_boxes_or_masks_are_refused_before_anything_runs(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"BBoxSafeRandomCrop": {"p": 1}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert "BBoxSafeRandomCrop needs bounding boxes, and no annotations were found" in result.output
    assert not (tmp_path / "out").exists()
    cfg = write_config(tmp_path / "d.yaml", image={"annotations": {"format": "masks"},
                                                   "pipeline": [{"RandomSizedBBoxSafeCrop": {"height": 9, "width": 9}},
                                                                {"MaskDropout": {}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "RandomSizedBBoxSafeCrop needs bounding boxes" in result.output
    assert "MaskDropout" not in result.output  # masks have a mask
    cfg = write_config(tmp_path / "f.yaml", image={"annotations": {"format": "yolo"}, "pipeline": []})
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "image.annotations.format: is yolo, but" in result.output
    cfg = write_config(tmp_path / "g.yaml", image={"annotations": {"format": "coco", "file": "a.json"}, "pipeline": []})
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "image.annotations.file: a.json does not exist" in result.output
    cfg = write_config(tmp_path / "e.yaml", image={"pipeline": [{"CenterCrop3D": {"size": [1, 2, 2]}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and "3D/volume transform" in result.output


def test_augmix_is_refused_on_an_annotated_dataset_at_validate(tmp_path, yolo_data):
    # AugMix mixes differently moved copies of the image: no box could follow it
    cfg = write_config(tmp_path / "c.yaml", input=str(yolo_data),
                       image={"pipeline": [{"OneOf": {"transforms": [{"AugMix": {}}, {"HorizontalFlip": {}}]}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert "AugMix cannot be used on this yolo dataset" in result.output and "RandAugment" in result.output
    cfg = write_config(tmp_path / "d.yaml", input=str(yolo_data), image={"pipeline": [{"RandAugment": {}}]})
    assert invoke("validate", cfg).exit_code == 0


def test_transforms_listing_marks_what_each_step_needs():
    result = invoke("transforms", "image")
    lines = {line.split("(")[0].strip(): line for line in result.output.splitlines()}
    assert "[needs bboxes" in lines["BBoxSafeRandomCrop"] and "[needs mask" in lines["MaskDropout"]
    assert "needs" not in lines["HorizontalFlip"]
    assert "CenterCrop3D" not in lines and "Mosaic" not in lines


def _hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "run.json"}


def test_one_and_two_workers_write_identical_outputs_and_annotation_files(tmp_path, coco_data):
    pipeline = [{"HorizontalFlip": {"p": 0.5}}, {"Affine": {"rotate": [-20, 20], "scale": [0.8, 1.2], "p": 0.8}},
                {"RandomSizedBBoxSafeCrop": {"height": 200, "width": 200, "p": 0.5}}]
    run(tmp_path, coco_data, pipeline, out="w1", copies=3, workers=1)
    run(tmp_path, coco_data, pipeline, out="w2", copies=3, workers=2)
    one, two = _hashes(tmp_path / "w1"), _hashes(tmp_path / "w2")
    assert one == two and "annotations/instances_train.json" in one
    assert len({one[f"images/train/coffee__aug{k}.jpg"] for k in range(3)}) == 3


@pytest.mark.parametrize(("name", "regenerated"), [("detection_coco", 9), ("detection_yolo", 18),
                                                   ("segmentation_masks", 18), ("detection_cutmix", 6)])
def test_example_configs_run_and_verify(tmp_path, name, regenerated):
    result = invoke("run", CONFIGS / f"{name}.yaml", "--output", tmp_path / "out", "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    report = verify(tmp_path / "out", workers=1)
    assert report.exit_code == 0, [str(f) for f in report.findings]
    assert report.regenerated == regenerated  # images (copies and mixed), and label files or masks


def test_verify_notices_a_changed_label_file_and_coco_file(tmp_path, yolo_data, coco_data):
    _, out, _ = run(tmp_path, yolo_data, [{"Rotate": {"limit": 10, "p": 1}}])
    label = out / "labels/train/coffee__aug1.txt"
    label.write_text(label.read_text().replace("0.", "0.1", 1))
    assert [(f.path, f.problem) for f in verify(out, workers=1).findings] == [
        ("labels/train/coffee__aug1.txt", "changed")]
    _, out, _ = run(tmp_path, coco_data, [{"Rotate": {"limit": 10, "p": 1}}], out="o2")
    (out / "annotations/instances_train.json").write_text("{}")
    assert [(f.path, f.problem) for f in verify(out, workers=1).findings] == [
        ("annotations/instances_train.json", "changed")]


def test_preview_draws_annotations_and_lists_objects(tmp_path):
    result = invoke("preview", CONFIGS / "detection_coco.yaml", "-n", "2", "--copies", "2", "--html",
                    "-o", tmp_path / "p.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "p.html").read_text()
    assert page.count("objects: ") == 4 and "kept" in page
    result = invoke("preview", CONFIGS / "segmentation_masks.yaml", "-n", "1", "--copies", "1",
                    "-o", tmp_path / "p.png")
    assert result.exit_code == 0 and (tmp_path / "p.png").stat().st_size > 10_000


def test_images_without_labels_are_background_images(tmp_path, yolo_data, coco_data):
    (yolo_data / "labels/train/coffee.txt").unlink()
    result, out, rows = run(tmp_path, yolo_data, [{"HorizontalFlip": {"p": 1.0}}])
    assert result.exit_code == 0
    assert (out / "labels/train/coffee__aug0.txt").read_text() == ""
    assert not (out / "labels/train/coffee.txt").exists()  # the original had none
    assert rows["images/train/coffee__aug1.jpg"]["objects"] == {"in": 0, "kept": 0, "dropped": [], "clipped": []}

    import shutil

    shutil.copyfile(coco_data / "images/train/coffee.jpg", coco_data / "images/train/extra.jpg")
    result, out, rows = run(tmp_path, coco_data, [], out="o2")
    written = json.loads((out / "annotations/instances_train.json").read_text())
    extra = [i for i in written["images"] if i["file_name"].startswith("extra")]
    assert [(i["file_name"], i["width"], i["height"]) for i in extra] == [
        ("extra.jpg", 256, 171), ("extra__aug0.jpg", 256, 171), ("extra__aug1.jpg", 256, 171)]
    assert not [a for a in written["annotations"] if a["image_id"] in {i["id"] for i in extra}]


def test_fragments_are_plain_json_so_a_resumed_run_folds_the_same_files(tmp_path):
    from augcli.annotations import worker
    from augcli.dataset import discover
    from augcli.modalities import image
    from augcli.modalities.registry import load_config
    from augcli.plan import build_plan

    config = load_config(CONFIGS / "detection_coco.yaml", {"output": str(tmp_path / "out")})
    fragments: list = []
    for task in build_plan(config, discover(config).items).tasks:
        worker.process(task, config, [], fragments)
    targets = {f.target for f in fragments}
    assert targets == {"annotations/instances_train.json", "annotations/instances_val.json"}
    for target in sorted(targets):
        datas = [f.data for f in fragments if f.target == target]
        journaled = json.loads(json.dumps(datas))  # what a resumed run reads back from the journal
        assert image.finish(config, target, journaled) == image.finish(config, target, datas)


def test_a_named_coco_file_and_images_folder(tmp_path, coco_data):
    annotations = {"format": "coco", "file": "annotations/instances_train.json", "images": "images/train"}
    result, _, rows = run(tmp_path, coco_data, [{"HorizontalFlip": {"p": 1}}], annotations=annotations)
    assert result.exit_code == 0, result.errors
    assert "images/train/chelsea__aug1.jpg" in rows and "annotations/instances_train.json" in rows
    assert "annotations/instances_val.json" not in rows  # not named: not read, not written
    assert rows["images/val/rocket.jpg"]["copy"] is None and "images/val/rocket__aug0.jpg" not in rows


@pytest.mark.parametrize("step", [
    {"BBoxSafeRandomCrop": {"erosion_rate": 0.2, "p": 1}},
    {"RandomSizedBBoxSafeCrop": {"height": 128, "width": 128, "p": 1}},
    {"AtLeastOneBBoxRandomCrop": {"height": 100, "width": 100, "p": 1}},
    {"RandomCropNearBBox": {"max_part_shift": [0.1, 0.2], "p": 1}},
], ids=lambda step: next(iter(step)))
def test_steps_that_need_boxes_run_on_an_annotated_dataset(tmp_path, coco_data, step):
    result, _, rows = run(tmp_path, coco_data, [step])
    assert result.exit_code == 0, result.errors
    copies = [r for r in rows.values() if r.get("copy") is not None]
    assert copies and all(r["transforms"][0]["name"] == next(iter(step)) for r in copies)
    if "AtLeastOne" not in str(step):  # the others keep every object in the crop (or near it)
        assert all(r["objects"]["kept"] >= 1 for r in copies)


def test_randaugment_moves_boxes_with_its_geometric_ops_and_leaves_them_for_colour_ops(tmp_path, yolo_data):
    """Policy steps on a detection set: each copy's recorded ops say whether its boxes may move."""
    geometric = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
    result, out, rows = run(tmp_path, yolo_data, [{"RandAugment": {"num_ops": 1, "magnitude": 15}}],
                            copies=12, keep_originals=False)
    assert result.exit_code == 0, result.errors
    moved = kept = 0
    for output, row in rows.items():
        if "annotation_of" in row or not row["transforms"]:
            continue
        (done,) = row["transforms"][0]["params"]["ops"]
        source = (yolo_data / row["source"].replace("images/", "labels/", 1)).with_suffix(".txt").read_text()
        written = (out / output.replace("images/", "labels/", 1)).with_suffix(".txt").read_text()
        boxes = lambda text: [[float(v) for v in line.split()[1:5]] for line in text.splitlines()]  # noqa: E731
        if done["op"] in geometric and done["magnitude"]:
            moved += boxes(written) != boxes(source)
        else:  # colour ops, and the identity: the same objects, the same boxes (to the written precision)
            np.testing.assert_allclose(boxes(written), boxes(source), atol=2e-6)
            kept += 1
    assert moved >= 5 and kept >= 5
    assert verify(out).exit_code == 0


def test_label_and_mask_files_that_do_not_read_name_the_file_and_the_fix(tmp_path, yolo_data, masks_data):
    """chmod 000 (root loses its power to ignore it), bytes that are not UTF-8, a mask that is no image:
    an error entry for the image, naming the file (relative, no "[Errno 13]"), why, and what to do."""
    import subprocess
    import sys

    from tests.conftest import without_root_powers

    drop = without_root_powers()
    (yolo_data / "labels/train/chelsea.txt").chmod(0)
    (yolo_data / "labels/train/coffee.txt").write_bytes(b"\xff\xfe3 0.5 0.5 0.2 0.2\n")
    (masks_data / "masks/train/chelsea.png").chmod(0)
    (masks_data / "masks/train/coffee.png").write_text("not a PNG")
    reasons = {}
    for data in (yolo_data, masks_data):
        cfg = write_config(tmp_path / f"{data.name}.yaml", input=str(data), output=str(tmp_path / f"{data.name}-out"),
                           workers=1, image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
        done = subprocess.run([*drop, sys.executable, "-m", "augcli", "run", str(cfg), "--json"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        reasons[data.name] = {e["source"]: e["reason"] for e in json.loads(done.stdout)["errors"]}
    assert reasons[yolo_data.name] == {
        "images/train/chelsea.jpg": "cannot read labels/train/chelsea.txt (Permission denied): make it readable "
                                    "(chmod u+r) or exclude it",
        "images/train/coffee.jpg": "cannot read labels/train/coffee.txt (not UTF-8 text: byte 0 is b'\\xff'): "
                                   "save it as UTF-8"}
    assert reasons[masks_data.name] == {
        "images/train/chelsea.jpg": "cannot read masks/train/chelsea.png (Permission denied): make it readable "
                                    "(chmod u+r) or exclude it",
        "images/train/coffee.jpg": "masks/train/coffee.png: cannot read the mask: not an image (PNG, BMP, "
                                   "TIFF...): check the file or remove it"}
