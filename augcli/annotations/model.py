"""The annotation object model shared by every format: objects in absolute pixel coordinates.

Coordinates are continuous, like box corners: a pixel ``i`` covers ``[i, i + 1)``, so a
horizontal flip maps ``x`` to ``W - x`` for boxes, polygon vertices and keypoints alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Obj:
    """One annotated object. ``extra`` holds the format's own fields, kept opaque and written back."""

    id: Any  # COCO annotation id, YOLO label line number, VOC object index
    category: Any  # COCO category id, YOLO class index, VOC class name
    bbox: tuple[float, float, float, float] | None = None  # x, y, w, h in pixels
    polygons: tuple[tuple[float, ...], ...] = ()  # each flat x1, y1, x2, y2, ...
    rle: dict | None = None  # COCO RLE (iscrowd) as read: {"size": [h, w], "counts": ...}
    keypoints: tuple[tuple[float, float, float], ...] = ()  # (x, y, visibility); v 0 = not labelled
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Obj:
        return replace(self, **changes)


@dataclass(frozen=True)
class Annotations:
    """Everything one image's labels say, as read from its format."""

    format: str  # coco | yolo | voc | masks
    source: str  # the file the labels come from (relpath): the JSON, label .txt, XML or mask PNG
    objects: tuple[Obj, ...] = ()
    mask: str | None = None  # masks format: the mask image relpath
    meta: dict[str, Any] = field(default_factory=dict)  # format-level data (COCO image entry, VOC XML, ...)
    flip_idx: tuple[int, ...] | None = None  # keypoint index each keypoint becomes under a mirror
    repaired: int = 0  # coordinates put back into range on read (YOLO's -5e-7, 1.0000003)
    error: str | None = None  # a label file that cannot be read: the item becomes an error entry


@dataclass
class ObjectRecord:
    """What happened to the objects of one output (a manifest field)."""

    n_in: int = 0
    kept: int = 0
    dropped: list[Any] = field(default_factory=list)  # ids of objects that left the image or fell below limits
    clipped: list[Any] = field(default_factory=list)  # ids of kept objects cut by the image border
    swapped_keypoints: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"in": self.n_in, "kept": self.kept, "dropped": self.dropped, "clipped": self.clipped}
        if self.swapped_keypoints:
            out["keypoints_swapped"] = True
        return out
