"""YOLO / Ultralytics: ``images/<split>/x.jpg`` with ``labels/<split>/x.txt`` and a ``data.yaml``.

A label line is ``cls cx cy w h`` (detect), ``cls x1 y1 ... xn yn`` (segment) or ``cls cx cy w h``
followed by ``kpt_shape[0]`` keypoints of ``kpt_shape[1]`` values (pose), normalised to [0, 1].
Values a hair outside [0, 1] (rounding: -5e-7, 1.0000003) are put back and counted.
"""

from __future__ import annotations

import json
import math
import posixpath
from pathlib import Path
from typing import Any

import yaml

from augcli.annotations import geometry
from augcli.annotations.layout import Layout, beside, split_of, under
from augcli.annotations.model import Annotations, Obj
from augcli.errors import cannot_read

REPAIR_TOLERANCE = 1e-3  # how far outside [0, 1] a coordinate may be and still count as rounding
DECIMALS = 6


def label_path(image_relpath: str) -> str | None:
    """``images/train/x.jpg`` -> ``labels/train/x.txt`` (the last ``images`` folder becomes ``labels``)."""
    return beside(image_relpath, "images", "labels", ".txt")


def read(root: Path, relpaths: list[str], section: Any) -> Layout | None:
    present = set(relpaths)
    images = [r for r in relpaths if label_path(r) is not None]
    labels = [r for r in relpaths if under(r, "labels") and r.lower().endswith(".txt")]
    if not labels or not images:
        return None
    layout = Layout()
    yaml_file, info = _data_yaml(root, relpaths)
    if yaml_file:
        layout.owned.add(yaml_file)
    layout.owned |= set(labels)
    kpt_shape = info.get("kpt_shape")
    flip_idx = info.get("flip_idx")
    flip = tuple(int(i) for i in flip_idx) if isinstance(flip_idx, list) else None
    names = info.get("names")
    names = dict(enumerate(names)) if isinstance(names, list) else names if isinstance(names, dict) else {}
    for relpath in images:
        layout.images.add(relpath)
        split = split_of(relpath.split("/")[relpath.split("/").index("images"):]) if "images" in relpath else None
        if split:
            layout.splits[relpath] = split
        lp = label_path(relpath)
        if lp not in present:
            continue
        try:
            text = (root / lp).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            layout.annotations[relpath] = Annotations("yolo", lp, error=cannot_read(lp, exc))
            continue
        objects, repaired, error = parse_labels(text, lp, kpt_shape)
        layout.repaired += repaired
        layout.annotations[relpath] = Annotations(
            "yolo", lp, tuple(objects), meta={"normalized": True, "yaml": yaml_file, "names": names},
            flip_idx=flip, repaired=repaired, error=error)
    return layout


def _data_yaml(root: Path, relpaths: list[str]) -> tuple[str | None, dict]:
    for rel in relpaths:
        if rel.lower().endswith((".yaml", ".yml")) and "/" not in rel:
            try:
                info = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            if isinstance(info, dict) and "names" in info:
                return rel, info
    return None, {}


def parse_labels(text: str, where: str, kpt_shape: Any = None) -> tuple[list[Obj], int, str | None]:
    """Objects of one label file (normalised coordinates), the values repaired, and the first error."""
    objects, repaired = [], 0
    nk, dims = (int(kpt_shape[0]), int(kpt_shape[1])) if isinstance(kpt_shape, list) and len(kpt_shape) == 2 \
        else (0, 0)
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        at = f"{where}:{n}"
        try:
            values = [float(v) for v in fields[1:]]
            cls = int(fields[0])
        except ValueError:
            return objects, repaired, f"{at}: not numbers: {line.strip()!r:.80}"
        if any(not math.isfinite(v) for v in values):
            return objects, repaired, f"{at}: NaN or infinite value in {line.strip()!r:.80}"
        if nk:
            kind, expected = "pose", 4 + nk * dims
            if len(values) != expected:
                return objects, repaired, (f"{at}: {len(fields)} columns; a pose line with kpt_shape "
                                           f"[{nk}, {dims}] has {expected + 1}")
        elif len(values) == 4:
            kind = "detect"
        elif len(values) >= 6 and len(values) % 2 == 0:
            kind = "segment"
        else:
            return objects, repaired, (f"{at}: {len(fields)} columns; expected 5 (class cx cy w h) or a class "
                                       "and at least 3 x y pairs")
        fixed = []
        for i, v in enumerate(values):
            if kind == "pose" and dims == 3 and i >= 4 and (i - 4) % 3 == 2:  # a visibility flag
                if v not in (0.0, 1.0, 2.0):
                    return objects, repaired, f"{at}: keypoint visibility {v} is not 0, 1 or 2"
                fixed.append(v)
                continue
            if -REPAIR_TOLERANCE <= v < 0 or 1 < v <= 1 + REPAIR_TOLERANCE:
                repaired += 1
                v = min(max(v, 0.0), 1.0)
            elif not 0 <= v <= 1:
                return objects, repaired, f"{at}: coordinate {v} is outside [0, 1]"
            fixed.append(v)
        extra = {"_kind": kind}
        if kind == "segment":
            polygon = tuple(fixed)
            xs, ys = polygon[0::2], polygon[1::2]
            box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            objects.append(Obj(n, cls, box, (polygon,), extra=extra))
            continue
        cx, cy, w, h = fixed[:4]
        box = (cx - w / 2, cy - h / 2, w, h)
        keypoints = ()
        if kind == "pose":
            extra["_dims"] = dims
            raw = fixed[4:]
            keypoints = tuple(
                (raw[i], raw[i + 1], raw[i + 2] if dims == 3 else (0.0 if raw[i] == raw[i + 1] == 0 else 2.0))
                for i in range(0, len(raw), dims))
        objects.append(Obj(n, cls, box, (), None, keypoints, extra=extra))
    return objects, repaired, None


def to_pixels(ann: Annotations, width: int, height: int) -> Annotations:
    """Normalised objects -> pixel coordinates, for the transform."""
    if not ann.meta.get("normalized"):
        return ann
    objects = []
    for o in ann.objects:
        x, y, w, h = o.bbox
        objects.append(o.with_(
            bbox=(x * width, y * height, w * width, h * height),
            polygons=tuple(tuple(v * (width if i % 2 == 0 else height) for i, v in enumerate(p)) for p in o.polygons),
            keypoints=tuple((kx * width, ky * height, v) for kx, ky, v in o.keypoints)))
    return Annotations(ann.format, ann.source, tuple(objects), ann.mask, {**ann.meta, "normalized": False},
                       ann.flip_idx, ann.repaired, ann.error)


def _fmt(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.{DECIMALS}f}"


def write_labels(ann: Annotations, width: int, height: int) -> bytes:
    """A label file for pixel-coordinate objects: normalised, 6 decimals, every value in [0, 1]."""
    lines = []
    for o in ann.objects:
        kind = o.extra.get("_kind", "detect")
        if kind == "segment":
            if o.polygons:  # one polygon per line: the largest piece when a warp split the object
                p = max(o.polygons, key=lambda q: geometry.polygon_area(list(q)))
                coords = [v / (width if i % 2 == 0 else height) for i, v in enumerate(p)]
                lines.append(" ".join([str(o.category), *map(_fmt, coords)]))
            continue
        x, y, w, h = o.bbox
        values = [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
        if kind == "pose":
            dims = o.extra.get("_dims", 3)
            for kx, ky, v in o.keypoints:
                values += [kx / width, ky / height] + ([v] if dims == 3 else [])
        lines.append(" ".join([str(o.category), *map(_fmt, values[:4]), *(
            _fmt(v) if (i % dims != 2 if kind == "pose" and dims == 3 else True) else str(int(v))
            for i, v in enumerate(values[4:]))]))
    return "".join(line + "\n" for line in lines).encode()


def finish(root: Path, target: str, datas: list[dict], output: Path | None = None) -> tuple[bytes, dict]:
    """data.yaml, copied: the output keeps the input's layout, so its relative paths still hold.

    A ``path:`` key (the dataset root) is the one line rewritten, to the output folder:
    Ultralytics resolves a relative one against its own datasets folder, not against the file.
    """
    blob = (root / target).read_bytes()
    if output is None:
        return blob, {}
    lines = blob.decode("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("path:"):
            ending = line[len(line.rstrip("\r\n")):]
            lines[i] = f"path: {json.dumps(str(output / posixpath.dirname(target)))}{ending or chr(10)}"
            return "".join(lines).encode("utf-8"), {"path_rewritten": True}
    return blob, {}
