"""Geometric transforms: objects stay inside the image, boxes agree with their polygons, and what
leaves the image is recorded. Polygons ride as keypoints (affine) or as masks (non-affine warps)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from augcli.annotations import geometry, transform
from augcli.annotations.model import Annotations, Obj
from tests.annotations.conftest import load_json, run

# pycocotools 2.0 decodes through a numpy API that numpy 2 deprecates; nothing to act on here
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

PIPELINES = {
    "Rotate": [{"Rotate": {"limit": [25, 25], "p": 1.0}}],
    "Affine": [{"Affine": {"scale": [0.7, 0.7], "rotate": [-30, -30], "shear": [10, 10], "p": 1.0}}],
    "RandomCrop": [{"RandomCrop": {"height": 120, "width": 150, "p": 1.0}}],
    "ElasticTransform": [{"ElasticTransform": {"alpha": 60, "sigma": 5, "p": 1.0}}],
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_objects_stay_inside_and_boxes_match_their_polygons(tmp_path, coco_data, name):
    result, out, rows = run(tmp_path, coco_data, PIPELINES[name])
    assert result.exit_code == 0, result.errors
    written = load_json(out / "annotations/instances_train.json")
    images = {i["id"]: i for i in written["images"]}
    copies = [a for a in written["annotations"] if "__aug" in images[a["image_id"]]["file_name"]]
    assert copies
    for ann in copies:
        image = images[ann["image_id"]]
        w, h = image["width"], image["height"]
        x, y, bw, bh = ann["bbox"]
        assert x >= 0 and y >= 0 and x + bw <= w + 0.01 and y + bh <= h + 0.01 and bw > 0 and bh > 0
        points = np.concatenate([np.array(p, float).reshape(-1, 2) for p in ann["segmentation"]])
        assert (points >= -0.01).all() and (points[:, 0] <= w + 0.01).all() and (points[:, 1] <= h + 0.01).all()
        lo, hi = points.min(axis=0), points.max(axis=0)
        assert [x, y, x + bw, y + bh] == pytest.approx([lo[0], lo[1], hi[0], hi[1]], abs=0.02)
        assert 0 < ann["area"] <= bw * bh + 1
    for row in rows.values():
        if row.get("copy") is not None and "objects" in row:
            o = row["objects"]
            assert o["in"] == o["kept"] + len(o["dropped"])
    if name == "RandomCrop":  # a 150x120 crop of a 256-wide photo loses objects: recorded by annotation id
        dropped = [i for r in rows.values() for i in r.get("objects", {}).get("dropped", [])]
        source_ids = {a["id"] for a in load_json(coco_data / "annotations/instances_train.json")["annotations"]}
        assert dropped and set(dropped) <= source_ids


def test_objects_pushed_out_are_dropped_and_recorded(tmp_path, coco_data):
    shift = [{"Affine": {"translate_px": {"x": [200, 200], "y": [0, 0]}, "p": 1.0}}]
    result, _out, rows = run(tmp_path, coco_data, shift, annotations={"min_visibility": 0.3})
    assert result.exit_code == 0
    row = rows["images/train/coffee__aug0.jpg"]
    assert row["objects"] == {"in": 2, "kept": 0, "dropped": [1004, 1005], "clipped": []}
    astronaut = rows["images/train/astronaut__aug0.jpg"]["objects"]
    assert astronaut == {"in": 4, "kept": 1, "dropped": [1000, 1001, 1002], "clipped": []}  # the flag stays


def test_keep_empty_false_leaves_out_copies_that_lost_every_object(tmp_path, coco_data):
    shift = [{"Affine": {"translate_px": {"x": [200, 200], "y": [0, 0]}, "p": 1.0}}]
    _result, out, rows = run(tmp_path, coco_data, shift, annotations={"keep_empty": False, "min_visibility": 0.3})
    assert "images/train/coffee__aug0.jpg" not in rows and not (out / "images/train/coffee__aug0.jpg").exists()
    assert "images/train/astronaut__aug0.jpg" in rows
    written = load_json(out / "annotations/instances_train.json")
    assert "coffee__aug0.jpg" not in {i["file_name"] for i in written["images"]}


def _cup(width: int = 256, height: int = 171) -> Annotations:
    cup = [75, 35, 80, 18, 100, 9, 125, 8, 150, 10, 170, 20, 176, 38, 170, 70, 163, 95, 150, 115, 130, 122,
           110, 118, 100, 125, 90, 128, 84, 120, 86, 105, 95, 100, 85, 85, 78, 60]
    xs, ys = cup[0::2], cup[1::2]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return Annotations("coco", "x.json", (Obj(1, 3, box, (tuple(map(float, cup)),)),))


def _iou(a: list[list[float]], b: list[list[float]], h: int, w: int) -> float:
    ma = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(a, h, w)))
    mb = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(b, h, w)))
    return (ma & mb).sum() / (ma | mb).sum()


def test_polygons_as_keypoints_and_as_masks_agree_on_an_affine_transform(photos):
    """Both ways a polygon can follow the pixels give the same region (up to tracing the pixel edges)."""
    image = cv2.cvtColor(cv2.resize(photos[4], (256, 171)), cv2.COLOR_BGR2RGB)
    steps = [{"Affine": {"scale": [0.8, 0.8], "rotate": [20, 20], "translate_px": [10, 10], "p": 1.0}}]
    pipeline = transform.pipeline_for(steps)
    _, as_points, _, _, _ = transform.augment(pipeline, image, _cup(), 5, as_masks=False)
    _, as_masks, _, _, _ = transform.augment(pipeline, image, _cup(), 5, as_masks=True)
    (a,), (b,) = as_points.objects, as_masks.objects
    assert _iou([list(p) for p in a.polygons], [list(p) for p in b.polygons], 171, 256) > 0.93
    assert a.bbox == pytest.approx(b.bbox, abs=1.5)


def test_elastic_warp_carries_polygons_as_masks_and_traces_them_back(photos):
    image = cv2.cvtColor(cv2.resize(photos[4], (256, 171)), cv2.COLOR_BGR2RGB)
    steps = [{"ElasticTransform": {"alpha": 80, "sigma": 6, "p": 1.0}}]
    assert transform.step_names(steps) & transform.NON_AFFINE
    pipeline = transform.pipeline_for(steps)
    _, moved, _, record, _ = transform.augment(pipeline, image, _cup(), 9, as_masks=True)
    (obj,) = moved.objects
    assert record.kept == 1 and obj.extra["_area"] > 0
    assert obj.bbox == pytest.approx(geometry.bounds([list(p) for p in obj.polygons]))
    original = _cup().objects[0].polygons
    assert 0.7 < _iou([list(p) for p in obj.polygons], [list(p) for p in original], 171, 256) < 1.0


def test_clip_polygon_to_the_image():
    square = geometry.clip_polygon([-10, -10, 50, -10, 50, 50, -10, 50], 20, 30)
    assert sorted(zip(square[0::2], square[1::2], strict=True)) == [(0, 0), (0, 30), (20, 0), (20, 30)]
    triangle = geometry.clip_polygon([-10, 0, 10, 0, 10, 20], 20, 20)  # a corner cut off
    assert geometry.polygon_area(triangle) == pytest.approx(200 - 50)
    assert geometry.clip_polygon([30, 30, 40, 30, 40, 40], 20, 20) == []
