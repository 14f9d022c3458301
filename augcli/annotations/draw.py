"""Draw annotations on an image for preview: boxes with class names, translucent polygons and masks,
keypoints (left side blue, right side orange, so a missed left/right swap shows)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from augcli.annotations import geometry
from augcli.annotations.model import Annotations

ALPHA = 0.35


def colour(key: object) -> tuple[int, int, int]:
    digest = hashlib.sha256(str(key).encode()).digest()
    return 60 + digest[0] % 196, 60 + digest[1] % 196, 60 + digest[2] % 196


def draw(image_bgr: np.ndarray, ann: Annotations | None, mask: np.ndarray | None = None) -> np.ndarray:
    """A copy of the image with the annotations drawn (pixel coordinates)."""
    out = image_bgr.copy()
    if ann is None:
        return out
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 300))
    names = ann.meta.get("names") or {}
    overlay = out.copy()
    if mask is not None:
        for value in np.unique(mask):
            if value:
                overlay[mask == value] = colour(("mask", int(value)))
    for obj in ann.objects:
        c = colour(obj.category)
        if obj.rle is not None:
            overlay[geometry.rasterise((), obj.rle, h, w).astype(bool)] = c
        for poly in obj.polygons:
            pts = np.round(np.array(poly, np.float64).reshape(-1, 2) * 8).astype(np.int32)
            cv2.fillPoly(overlay, [pts], c, cv2.LINE_AA, shift=3)
    out = cv2.addWeighted(overlay, ALPHA, out, 1 - ALPHA, 0)
    for obj in ann.objects:
        c = colour(obj.category)
        if obj.bbox is not None:
            x, y, bw, bh = obj.bbox
            cv2.rectangle(out, (round(x * 8), round(y * 8)), (round((x + bw) * 8) - 8, round((y + bh) * 8) - 8),
                          c, thick, cv2.LINE_AA, shift=3)
            label = str(names.get(obj.category, names.get(str(obj.category), obj.category)))
            scale = max(0.35, max(h, w) / 800)
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            tx, ty = int(min(max(x, 0), w - tw)), int(max(y, th + 2))
            cv2.rectangle(out, (tx, ty - th - 2), (tx + tw + 2, ty), c, -1)
            cv2.putText(out, label, (tx + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        kp_names = ann.meta.get("keypoint_names") or []
        for i, (kx, ky, v) in enumerate(obj.keypoints):
            if v <= 0:
                continue
            name = kp_names[i] if i < len(kp_names) else ""
            kc = (255, 140, 0) if name.startswith("left") else (0, 140, 255) if name.startswith("right") else c
            cv2.circle(out, (round(kx * 8), round(ky * 8)), (thick + 1) * 8, kc, -1, cv2.LINE_AA, shift=3)
    return out
