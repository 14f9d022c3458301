"""Move annotations with the pixels: one albumentations call carries the image, boxes, keypoints and masks.

Boxes go through albumentations' ``BboxParams`` (its clipping and ``min_visibility`` /
``min_area`` filtering decide which objects survive). Keypoints, and the polygon vertices of
pipelines whose transforms keep straight lines straight (flips, crops, rotations, affine,
perspective), ride as albumentations keypoints: those use pixel-index coordinates (a flip maps
``x`` to ``W - 1 - x``), so continuous coordinates are shifted by half a pixel on the way in and
back. Pipelines with a non-affine warp (``ElasticTransform``, ``GridDistortion``, ...) bend edges,
so there polygons are rasterised into per-object masks, warped with the image (nearest
neighbour) and traced back. RLE masks always travel as masks.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from augcli.annotations import geometry, masks
from augcli.annotations.model import Annotations, ObjectRecord
from augcli.annotations.rules import step_names
from augcli.errors import ItemError
from augcli.io import read_file
from augcli.memo import remember_last
from augcli.seeding import generators

#: Warps that bend straight lines: polygons follow them as masks, not as vertices.
NON_AFFINE = frozenset({"ElasticTransform", "GridDistortion", "OpticalDistortion", "PiecewiseAffine",
                        "ThinPlateSpline", "GridElasticDeform", "RandomGridShuffle"})
_EPS = 1e-3


@lru_cache(maxsize=8)
def _cached(steps_json: str, min_visibility: float, min_area: float):
    import albumentations as A

    from augcli.errors import ConfigError, Problem, errors_in
    from augcli.modalities.image_steps import build_steps

    problems: list[Problem] = []
    transforms = build_steps(json.loads(steps_json), "image.pipeline", problems)
    if errors_in(problems):
        raise ConfigError(errors_in(problems))
    with warnings.catch_warnings():  # a pipeline without a geometric step warns that keypoints go unused
        warnings.simplefilter("ignore", UserWarning)
        return A.Compose(
            transforms, p=1.0, save_applied_params=True,
            bbox_params=A.BboxParams("coco", label_fields=["object_index"], min_visibility=min_visibility,
                                     min_area=min_area, clip=True, filter_invalid_bboxes=True),
            keypoint_params=A.KeypointParams("xy", label_fields=["point_index"], remove_invisible=False),
        )


@remember_last
def pipeline_for(steps: list, min_visibility: float = 0.0, min_area: float = 0.0):
    """The pipeline with box and keypoint handling, built once per process."""
    return _cached(json.dumps(steps, sort_keys=True, default=str), float(min_visibility), float(min_area))


@remember_last
def bends_lines(steps: list) -> bool:
    """Whether a step of the pipeline is a non-affine warp (polygons then follow it as masks)."""
    return bool(step_names(steps) & NON_AFFINE)


@remember_last
def _prepare(ann: Annotations, width: int, height: int, as_masks: bool) -> tuple:
    """What ``augment`` sends to albumentations besides the image: the same for every copy of a source."""
    objects = ann.objects
    boxes, index = [], []
    for i, obj in enumerate(objects):
        if obj.bbox is not None:
            boxes.append(_clip_box(obj.bbox, width, height))
            index.append(i)
    # Points, in albumentations' pixel-index coordinates: keypoints, polygon vertices (affine
    # pipelines), box corners (to tell a clipped object), and a triangle whose turning direction
    # tells whether the pipeline mirrored the image (left/right keypoints swap then).
    points: list[tuple[float, float]] = []
    spans: list[dict[str, Any]] = []
    object_masks: list[np.ndarray] = []
    for obj in objects:
        span: dict[str, Any] = {"kp": (len(points), len(obj.keypoints))}
        points += [(x - 0.5, y - 0.5) if v > 0 else (math.nan, math.nan) for x, y, v in obj.keypoints]
        if obj.rle is not None or (obj.polygons and as_masks):
            span["mask"] = len(object_masks)
            object_masks.append(geometry.rasterise(obj.polygons, obj.rle, height, width))
        elif obj.polygons:
            span["polys"] = []
            for poly in obj.polygons:
                span["polys"].append((len(points), len(poly) // 2))
                points += [(x - 0.5, y - 0.5) for x, y in zip(poly[0::2], poly[1::2], strict=True)]
        if obj.bbox is not None:
            x, y, w, h = obj.bbox
            span["corners"] = len(points)
            points += [(x - 0.5, y - 0.5), (x + w - 0.5, y - 0.5), (x - 0.5, y + h - 0.5), (x + w - 0.5, y + h - 0.5)]
        spans.append(span)
    triangle = len(points)
    points += [(width / 4, height / 4), (3 * width / 4, height / 4), (width / 4, 3 * height / 4)]
    # Unlabelled keypoints (NaN) are not sent; the others carry their index, so a point a warp
    # removes cannot shift the rest.
    sent = [i for i, p in enumerate(points) if not math.isnan(p[0])]
    return boxes, index, points, spans, object_masks, triangle, sent


def augment(pipeline, image: np.ndarray, ann: Annotations, seed: int, *, as_masks: bool,
            mask: np.ndarray | None = None) -> tuple[np.ndarray, Annotations, np.ndarray | None, ObjectRecord, list]:
    """Apply the pipeline to an image and its annotations with this output's seed.

    Returns the image, the transformed annotations (ids kept, dropped objects left out), the
    transformed mask (masks format), the per-object record and the applied steps.
    """
    height, width = image.shape[:2]
    objects = ann.objects
    boxes, index, points, spans, object_masks, triangle, sent = _prepare(ann, width, height, as_masks)
    data: dict[str, Any] = {"bboxes": np.array(boxes, dtype=np.float64).reshape(-1, 4), "object_index": list(index),
                            "keypoints": np.array([points[i] for i in sent], dtype=np.float64).reshape(-1, 2),
                            "point_index": list(sent)}
    if object_masks:
        data["masks"] = [m.copy() for m in object_masks]  # the next copy of the source uses them too
    if mask is not None:
        data["mask"] = mask
    # RandomCropNearBBox crops near all the objects (whole pixels: it slices with them)
    data["cropping_bbox"] = _union_box(boxes) if boxes else [0, 0, width, height]

    pipeline.set_random_state(*generators(seed))
    if image.dtype == np.uint16:
        result = pipeline(image=image.astype(np.float32) / 65535.0, **data)
        out_image = np.clip(np.rint(result["image"] * 65535.0), 0, 65535).astype(np.uint16)
    else:
        result = pipeline(image=image, **data)
        out_image = result["image"]
    out_h, out_w = out_image.shape[:2]
    moved = np.full((len(points), 2), np.nan)
    returned = np.asarray(result["keypoints"], dtype=np.float64).reshape(len(result["point_index"]), -1)
    if len(returned):
        moved[np.rint(np.asarray(result["point_index"], dtype=np.float64)).astype(int)] = returned[:, :2] + 0.5
    moved_points = moved.tolist()  # plain floats for the per-object checks (numpy per scalar costs ~1 us)
    mirrored = bool(_turn(points[triangle:]) * _turn((moved[triangle:] - 0.5).tolist()) < 0)
    survivors = {round(float(i)): box for i, box in zip(result["object_index"], result["bboxes"], strict=True)}
    out_masks = result.get("masks", [])

    record = ObjectRecord(n_in=len(objects))
    kept = []
    for i, (obj, span) in enumerate(zip(objects, spans, strict=True)):
        if obj.bbox is not None and i not in survivors:
            record.dropped.append(obj.id)
            continue
        changes: dict[str, Any] = {}
        clipped = _was_clipped(obj.bbox, width, height) if obj.bbox is not None else False
        if "corners" in span:
            corners = moved_points[span["corners"]: span["corners"] + 4]  # NaN compares False: outside
            clipped = clipped or not all(-_EPS <= x <= out_w + _EPS and -_EPS <= y <= out_h + _EPS
                                         for x, y in corners)
        segment_box = None
        if "mask" in span:
            warped = np.asarray(out_masks[span["mask"]]).astype(np.uint8)
            segment_box = geometry.mask_bounds(warped)
            if segment_box is None:
                record.dropped.append(obj.id)
                continue
            if obj.rle is not None:
                changes["rle"] = geometry.encode_rle(warped, obj.rle)
            else:
                changes["polygons"] = tuple(tuple(p) for p in geometry.trace(warped))
                if not changes["polygons"]:
                    record.dropped.append(obj.id)
                    continue
                segment_box = geometry.bounds([list(p) for p in changes["polygons"]])
            changes["extra"] = {**obj.extra, "_area": geometry.mask_area(warped)}
        elif "polys" in span:
            polys = []
            for start, n in span["polys"]:
                vertices = moved[start: start + n]
                vertices = vertices[~np.isnan(vertices[:, 0])]
                if len(vertices) >= 3 and (vertices >= 0).all() and (vertices[:, 0] <= out_w).all() \
                        and (vertices[:, 1] <= out_h).all():  # inside the image: nothing to clip
                    polys.append(tuple(np.round(vertices, 4).flatten().tolist()))
                    continue
                clipped_poly = geometry.clip_polygon(vertices.flatten().tolist(), out_w, out_h)
                if clipped_poly:
                    polys.append(tuple(np.round(np.asarray(clipped_poly), 4).tolist()))
            if not polys:
                record.dropped.append(obj.id)
                continue
            changes["polygons"] = tuple(polys)
            segment_box = geometry.bounds([list(p) for p in polys])
        if segment_box is not None:
            changes["bbox"] = segment_box
        elif obj.bbox is not None:
            x, y, w, h = (float(v) for v in survivors[i][:4])
            changes["bbox"] = _clip_box((x, y, w, h), out_w, out_h)
        if obj.keypoints:
            start, n = span["kp"]
            changes["keypoints"] = _keypoints(obj.keypoints, moved[start: start + n], out_w, out_h,
                                              ann.flip_idx if mirrored else None)
        if clipped:
            record.clipped.append(obj.id)
        kept.append(obj.with_(**changes))
    record.kept = len(kept)
    record.swapped_keypoints = bool(mirrored and ann.flip_idx and any(o.keypoints for o in kept))
    out_mask = result.get("mask") if mask is not None else None
    meta = {**ann.meta, "width": out_w, "height": out_h}
    new = Annotations(ann.format, ann.source, tuple(kept), ann.mask, meta, ann.flip_idx, ann.repaired)
    return out_image, new, out_mask, record, result["applied_transforms"]


def _keypoints(original, moved: np.ndarray, width: int, height: int, flip_idx) -> tuple:
    out = []
    for (_, _, v), (x, y) in zip(original, moved.tolist(), strict=True):
        if v == 0 or np.isnan(x) or not (0 <= x < width and 0 <= y < height):
            out.append((0.0, 0.0, 0.0))  # not labelled, or left the image: COCO's and YOLO's "absent"
        else:
            out.append((round(x, 4), round(y, 4), v))
    if flip_idx:
        out = [out[j] for j in flip_idx]
    return tuple(out)


def _turn(points) -> float:
    (ax, ay), (bx, by), (cx, cy) = points[:3]
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _clip_box(box, width: int, height: int) -> tuple[float, float, float, float]:
    x, y, w, h = box
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return x0, y0, x1 - x0, y1 - y0


def _was_clipped(box, width: int, height: int) -> bool:
    x, y, w, h = box
    return x < -_EPS or y < -_EPS or x + w > width + _EPS or y + h > height + _EPS


def _union_box(boxes) -> list[int]:
    arr = np.asarray(boxes, dtype=np.float64)
    return [int(np.floor(arr[:, 0].min())), int(np.floor(arr[:, 1].min())),
            int(np.ceil((arr[:, 0] + arr[:, 2]).max())), int(np.ceil((arr[:, 1] + arr[:, 3]).max()))]


def settings(config: Any) -> tuple[float, float, bool]:
    section = config.image.annotations
    if section is None:
        return 0.0, 0.0, True
    return section.min_visibility, section.min_area, section.keep_empty


def load_mask(config: Any, ann: Annotations, shape: tuple[int, ...]) -> tuple[np.ndarray | None, dict | None, bytes]:
    if ann.mask is None:
        return None, None, b""
    data = read_file(os.path.join(config.input, ann.mask))
    mask, info = masks.read_mask(data, ann.mask, config.image.max_pixels)
    if mask.shape[:2] != tuple(shape[:2]):
        raise ItemError(f"{ann.mask}: the mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                        f"{shape[1]}x{shape[0]}")
    return mask, info, data
