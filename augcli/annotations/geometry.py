"""Pure geometry on continuous pixel coordinates: clipping, bounds, rasterising and tracing polygons."""

from __future__ import annotations

import cv2
import numpy as np


def clip_polygon(flat: tuple[float, ...] | list[float], width: float, height: float) -> list[float]:
    """A polygon clipped to the image rectangle [0, width] x [0, height] (Sutherland-Hodgman)."""
    points = list(zip(flat[0::2], flat[1::2], strict=True))
    for axis, limit, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if not points:
            break
        def inside(p, a=axis, lim=limit, b=keep_below):
            return (p[a] <= lim if b else p[a] >= lim)
        out = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    out.append(_cross(previous, current, axis, limit))
                out.append(current)
            elif inside(previous):
                out.append(_cross(previous, current, axis, limit))
        points = out
    deduped = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    if len(deduped) > 1 and deduped[0] == deduped[-1]:
        deduped.pop()
    return [c for p in deduped for c in p] if len(deduped) >= 3 else []


def clip_polygon_to(flat: tuple[float, ...] | list[float], rect: tuple[float, float, float, float]) -> list[float]:
    """A polygon clipped to the rectangle ``rect`` = (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = rect
    shifted = [v - (x1 if i % 2 == 0 else y1) for i, v in enumerate(flat)]
    clipped = clip_polygon(shifted, x2 - x1, y2 - y1)
    return [v + (x1 if i % 2 == 0 else y1) for i, v in enumerate(clipped)]


def box_inside(box: tuple[float, float, float, float], rect: tuple[float, float, float, float]
               ) -> tuple[tuple[float, float, float, float] | None, float]:
    """The part of box (x, y, w, h) inside ``rect`` (x1, y1, x2, y2) and its area; None when empty."""
    x, y, w, h = box
    x0, y0 = max(x, rect[0]), max(y, rect[1])
    x1, y1 = min(x + w, rect[2]), min(y + h, rect[3])
    if x1 <= x0 or y1 <= y0:
        return None, 0.0
    return (x0, y0, x1 - x0, y1 - y0), (x1 - x0) * (y1 - y0)


def box_outside(box: tuple[float, float, float, float], rect: tuple[float, float, float, float]
                ) -> tuple[tuple[float, float, float, float] | None, float]:
    """The bounding box of the part of box (x, y, w, h) outside ``rect`` (x1, y1, x2, y2), and the
    area of that part (the box's less the overlap); None when the rectangle covers the box.

    The visible part is the box minus a rectangle: its bounding box shrinks only along an axis the
    rectangle spans completely (a rectangle that covers the box's full height cuts its width to
    what is left beside it); otherwise a full-width (or full-height) strip remains visible."""
    x, y, w, h = box
    _, overlap = box_inside(box, rect)
    if overlap == 0.0:
        return box, w * h
    x0, y0, x1, y1 = x, y, x + w, y + h
    spans_height, spans_width = rect[1] <= y0 and rect[3] >= y1, rect[0] <= x0 and rect[2] >= x1
    if spans_height and spans_width:
        return None, 0.0
    visible = (x1 - x0) * (y1 - y0) - overlap
    if spans_height:  # only what is left or right of it
        pieces = [p for p in ((x0, min(x1, rect[0])), (max(x0, rect[2]), x1)) if p[1] > p[0]]
        x0, x1 = pieces[0][0], pieces[-1][1]
    if spans_width:  # only what is above or below it
        pieces = [p for p in ((y0, min(y1, rect[1])), (max(y0, rect[3]), y1)) if p[1] > p[0]]
        y0, y1 = pieces[0][0], pieces[-1][1]
    return (x0, y0, x1 - x0, y1 - y0), visible


def _cross(a, b, axis: int, limit: float) -> tuple[float, float]:
    t = (limit - a[axis]) / (b[axis] - a[axis])
    other = 1 - axis
    value = a[other] + t * (b[other] - a[other])
    return (limit, value) if axis == 0 else (value, limit)


def polygon_area(flat: list[float]) -> float:
    x, y = np.asarray(flat[0::2]), np.asarray(flat[1::2])
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def bounds(polygons: list[list[float]]) -> tuple[float, float, float, float] | None:
    """x, y, w, h of the union of the polygons, or None when there are none."""
    xs = [v for p in polygons for v in p[0::2]]
    ys = [v for p in polygons for v in p[1::2]]
    if not xs:
        return None
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def mask_bounds(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """x, y, w, h of a mask's set pixels (pixel i covers [i, i + 1)), or None when it is empty."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return float(x0), float(y0), float(x1 + 1 - x0), float(y1 + 1 - y0)


def rasterise(polygons, rle: dict | None, height: int, width: int) -> np.ndarray:
    """The object's pixels as a uint8 mask, rasterised by pycocotools (as COCO's own annToMask does)."""
    from pycocotools import mask as mask_utils

    if rle is not None:
        return mask_utils.decode(_compressed(rle)).astype(np.uint8)
    rles = mask_utils.frPyObjects([list(p) for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)


def _compressed(rle: dict) -> dict:
    from pycocotools import mask as mask_utils

    if isinstance(rle["counts"], list):
        h, w = rle["size"]
        return mask_utils.frPyObjects(rle, h, w)
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}


def encode_rle(mask: np.ndarray, like: dict | None) -> dict:
    """A mask as COCO RLE: uncompressed (a list of counts) when ``like`` was, else compressed."""
    h, w = mask.shape
    if like is not None and isinstance(like.get("counts"), list):
        flat = mask.flatten(order="F").astype(bool)
        changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        edges = np.concatenate([[0], changes, [flat.size]])
        counts = np.diff(edges).tolist()
        if flat.size and flat[0]:
            counts = [0, *counts]
        return {"size": [h, w], "counts": counts}
    from pycocotools import mask as mask_utils

    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [h, w], "counts": encoded["counts"].decode("ascii")}


def mask_area(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask))


def polygons_area(polygons: list[list[float]], height: int, width: int) -> float:
    """Area as COCO computes it: pixels of the rasterised polygons (pycocotools)."""
    from pycocotools import mask as mask_utils

    if not polygons:
        return 0.0
    rles = mask_utils.frPyObjects([list(p) for p in polygons], height, width)
    return float(mask_utils.area(mask_utils.merge(rles)))


def trace(mask: np.ndarray) -> list[list[float]]:
    """Polygons around a mask's regions (outer contours), vertices at pixel centres made continuous."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        if len(contour) < 3:
            continue
        points = contour.reshape(-1, 2).astype(np.float64) + 0.5
        polygons.append([round(float(v), 2) for v in points.flatten()])
    return polygons
