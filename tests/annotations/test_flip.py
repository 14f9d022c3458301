"""HorizontalFlip p=1: every box, polygon point, keypoint and mask pixel lands exactly where it must."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from augcli.annotations import coco as coco_format
from tests.annotations.conftest import load_json, run

FLIP = [{"HorizontalFlip": {"p": 1.0}}]


def test_coco_boxes_polygons_keypoints_mirror_and_left_right_swap(tmp_path, coco_data):
    result, out, rows = run(tmp_path, coco_data, FLIP)
    assert result.exit_code == 0, result.errors
    source = load_json(coco_data / "annotations/instances_train.json")
    written = load_json(out / "annotations/instances_train.json")
    images = {i["id"]: i for i in written["images"]}
    by_source = {a["id"]: a for a in source["annotations"]}
    width = {i["id"]: i["width"] for i in source["images"]}
    names = next(c["keypoints"] for c in source["categories"] if c["name"] == "person")
    flip = coco_format.flip_from_names(names)
    copies = [a for a in written["annotations"] if "__aug" in images[a["image_id"]]["file_name"]]
    assert len(copies) == 2 * len(by_source)  # nothing lost: a flip keeps every object
    matched = 0
    for ann in copies:
        # the copy's annotation of the same object: same category, same source image (ids are new)
        stem = images[ann["image_id"]]["file_name"].split("__aug")[0]
        (orig,) = [a for a in by_source.values() if a["category_id"] == ann["category_id"]
                   and next(i for i in source["images"] if i["id"] == a["image_id"])["file_name"].startswith(stem)
                   and _mirrored_box(a, width[a["image_id"]]) == pytest.approx(ann["bbox"], abs=0.01)]
        w = width[orig["image_id"]]
        for poly, new in zip(orig["segmentation"], ann["segmentation"], strict=True):
            expected = [w - v if i % 2 == 0 else v for i, v in enumerate(poly)]
            assert new == pytest.approx(expected, abs=0.01)
        if "keypoints" in orig:
            kp = np.array(orig["keypoints"], float).reshape(-1, 3)
            mirrored = np.where(kp[:, 2:3] > 0, np.c_[w - kp[:, 0], kp[:, 1], kp[:, 2]], 0)
            expected = mirrored[list(flip)]  # the left eye of the copy is the right eye of the source
            np.testing.assert_allclose(np.array(ann["keypoints"], float).reshape(-1, 3), expected, atol=0.01)
            assert ann["num_keypoints"] == orig["num_keypoints"]
            row = rows[images[ann["image_id"]]["file_name"].join(["images/train/", ""])]
            assert row["objects"]["keypoints_swapped"] is True
        matched += 1
    assert matched == len(copies)
    assert flip[1:3] == (2, 1)  # left_eye <-> right_eye


def _mirrored_box(ann: dict, width: int) -> list[float]:
    x, y, w, h = ann["bbox"]
    return [width - x - w, y, w, h]


def test_yolo_boxes_mirror(tmp_path, yolo_data):
    result, out, _ = run(tmp_path, yolo_data, FLIP)
    assert result.exit_code == 0, result.errors
    for name in ("astronaut", "coffee", "chelsea"):
        source = np.loadtxt(yolo_data / f"labels/train/{name}.txt", ndmin=2)
        for k in range(2):
            copy = np.loadtxt(out / f"labels/train/{name}__aug{k}.txt", ndmin=2)
            expected = source.copy()
            expected[:, 1] = 1 - source[:, 1]
            np.testing.assert_allclose(copy, expected, atol=2e-6)


def test_masks_equal_fliplr_exactly_and_keep_their_palette(tmp_path, masks_data):
    result, out, rows = run(tmp_path, masks_data, FLIP)
    assert result.exit_code == 0, result.errors
    for name in ("astronaut", "coffee", "chelsea"):
        source = Image.open(masks_data / f"masks/train/{name}.png")
        copy = Image.open(out / f"masks/train/{name}__aug0.png")
        assert copy.mode == "P" and copy.getpalette() == source.getpalette()
        np.testing.assert_array_equal(np.array(copy), np.fliplr(np.array(source)))
        assert rows[f"masks/train/{name}__aug0.png"]["annotation_of"] == f"images/train/{name}__aug0.jpg"
