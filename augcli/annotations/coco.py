"""COCO: one JSON (images, annotations, categories, and anything else) and an images folder.

Written back as one JSON at the same relative path (an aggregate output): the originals keep
their entries and ids verbatim, the copies get new ids above the largest in the file, and
every other field of the file (info, licenses, categories, unknown keys) is kept as it was.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from pathlib import Path
from typing import Any

from augcli.annotations import geometry
from augcli.annotations.layout import Layout
from augcli.annotations.model import Annotations, Obj
from augcli.errors import cannot_read

_KNOWN_ANN_KEYS = ("bbox", "segmentation", "keypoints")


def read(root: Path, relpaths: list[str], section: Any) -> Layout | None:
    present = set(relpaths)
    files = [posixpath.normpath(section.file)] if section is not None and section.file else \
        _candidates(root, relpaths)
    if section is not None and section.file and files[0] not in present:
        from augcli.errors import ConfigError, Problem

        raise ConfigError([Problem("image.annotations.file", f"{files[0]} does not exist in {root}")])
    if not files:
        return None
    layout = Layout()
    for rel in files:
        _read_one(root, rel, present, section, layout)
    return layout


def _candidates(root: Path, relpaths: list[str]) -> list[str]:
    """JSON files that look like COCO: a mapping with "images" and "annotations"."""
    found = []
    for rel in relpaths:
        if not rel.lower().endswith(".json"):
            continue
        try:
            with open(root / rel, "rb") as f:
                head = f.read(1 << 16)
        except OSError:
            continue
        # COCO-looking JSON only (a truncated one too): other JSON files are not looked at
        if b'"images"' in head and (b'"annotations"' in head or b'"file_name"' in head):
            found.append(rel)
    return found


def _read_one(root: Path, rel: str, present: set[str], section: Any, layout: Layout) -> None:
    layout.owned.add(rel)
    images_dir = _images_dir(root, rel, section)
    try:
        data = json.loads((root / rel).read_text(encoding="utf-8"))
    except FileNotFoundError:
        layout.errors.append({"source": rel, "kind": "annotation file",
                              "reason": "the COCO file named by image.annotations.file does not exist"})
        return
    except (OSError, UnicodeDecodeError) as exc:
        layout.errors.append({"source": rel, "kind": "annotation file", "reason": cannot_read("the COCO file", exc)})
        _cover(layout, present, images_dir)
        return
    except json.JSONDecodeError as exc:
        layout.errors.append({"source": rel, "kind": "annotation file",
                              "reason": f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
                                        "its images are left out"})
        _cover(layout, present, images_dir if images_dir is not None else _folder_of(rel, present))
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        layout.errors.append({"source": rel, "kind": "annotation file",
                              "reason": "not a COCO file: it needs an 'images' list"})
        return
    if images_dir is None:
        images_dir = _guess_images_dir(data, present, rel)
    split = _split_from_name(rel, images_dir)
    categories = {c.get("id"): c for c in data.get("categories", []) if isinstance(c, dict)}
    names = {i: c.get("name", i) for i, c in categories.items()}
    by_image: dict[Any, list[dict]] = {}
    for ann in data.get("annotations", []):
        if isinstance(ann, dict):
            by_image.setdefault(ann.get("image_id"), []).append(ann)
    ids = set()
    for entry in data["images"]:
        if not isinstance(entry, dict) or "file_name" not in entry:
            layout.errors.append({"source": rel, "kind": "image entry",
                                  "reason": f"image entry {entry!r:.80} has no file_name"})
            continue
        ids.add(entry.get("id"))
        relpath = posixpath.normpath(posixpath.join(images_dir, entry["file_name"])) if images_dir else \
            posixpath.normpath(entry["file_name"])
        if relpath not in present:
            layout.errors.append({"source": rel, "kind": "image entry",
                                  "reason": f"image id {entry.get('id')}: file_name {entry['file_name']!r} "
                                            f"not found at {relpath}"})
            continue
        objects, problem = [], None
        for ann in by_image.get(entry.get("id"), []):
            obj, problem = _object(ann, categories, entry)
            if problem:
                problem = f"{rel}: annotation id {ann.get('id')}: {problem}"
                break
            objects.append(obj)
        layout.images.add(relpath)
        layout.annotations[relpath] = Annotations(
            "coco", rel, tuple(objects), meta={"image": entry, "prefix": images_dir or "", "names": names,
                                               **_keypoint_names(categories, objects)}, error=problem,
            flip_idx=_flip_idx(categories, objects))
        if split:
            layout.splits[relpath] = split
    for image_id in by_image:
        if image_id not in ids:
            layout.errors.append({"source": rel, "kind": "annotations",
                                  "reason": f"annotations with image_id {image_id} name no image "
                                                           "in 'images'"})
    _cover(layout, present, images_dir, split, rel)


def _cover(layout: Layout, present: set[str], images_dir: str | None, split: str | None = None,
           rel: str | None = None) -> None:
    """Every image below the images folder belongs to this COCO file: those without an entry are
    background images (added to the output file); with ``rel`` None the file is broken and they are
    left out rather than augmented without their labels."""
    if images_dir is None:
        return
    prefix = images_dir.rstrip("/") + "/" if images_dir not in ("", ".") else ""
    for relpath in sorted(present):
        if not relpath.startswith(prefix) or relpath in layout.owned or relpath in layout.annotations:
            continue
        if rel is None:
            layout.owned.add(relpath)
            continue
        layout.images.add(relpath)
        layout.annotations[relpath] = Annotations("coco", rel, (), meta={"background": True, "prefix": prefix})
        if split:
            layout.splits[relpath] = split


def _images_dir(root: Path, rel: str, section: Any) -> str | None:
    if section is not None and section.images:
        return posixpath.normpath(section.images)
    return None


def _folder_of(rel: str, present: set[str]) -> str | None:
    """For a COCO file that does not parse: its images folder by the naming convention, if there is one."""
    parent = posixpath.dirname(posixpath.dirname(rel))
    stem = posixpath.splitext(posixpath.basename(rel))[0].removeprefix("instances_").removeprefix("person_keypoints_")
    for candidate in (posixpath.join(parent, "images", stem), posixpath.join(parent, stem)):
        candidate = posixpath.normpath(candidate)
        if any(p.startswith(candidate + "/") for p in present):
            return candidate
    return None


def _guess_images_dir(data: dict, present: set[str], rel: str) -> str:
    """The folder the file_names are relative to: the first candidate where they exist."""
    names = [e["file_name"] for e in data["images"][:20] if isinstance(e, dict) and "file_name" in e]
    folder = posixpath.dirname(rel)
    parent = posixpath.dirname(folder)
    stem = posixpath.splitext(posixpath.basename(rel))[0].removeprefix("instances_").removeprefix("person_keypoints_")
    candidates = [posixpath.join(parent, "images", stem), posixpath.join(parent, "images"),
                  posixpath.join(parent, stem), folder, parent, "images", ""]
    best, found = None, 0
    for candidate in candidates:  # the first folder where most of them exist (one may be missing)
        candidate = "" if not candidate or posixpath.normpath(candidate) == "." else posixpath.normpath(candidate)
        hits = sum(posixpath.normpath(posixpath.join(candidate, n)) in present for n in names)
        if hits > found:
            best, found = candidate, hits
    if best is not None:
        return best
    return "" if folder in ("", ".") else folder


def _split_from_name(rel: str, images_dir: str | None) -> str | None:
    """``instances_train2017.json`` or ``images/val2017`` -> train / val / test."""
    for word in [posixpath.basename(rel).lower(), *(images_dir or "").lower().split("/")]:
        for token in re.split(r"[_\-.]", word):
            for split in ("train", "val", "test"):
                if token.startswith(split):
                    return split
    return None


def _number_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           and math.isfinite(v) for v in value)


def _object(ann: dict, categories: dict, entry: dict) -> tuple[Obj | None, str | None]:
    bbox = ann.get("bbox")
    if bbox is not None and not (_number_list(bbox) and len(bbox) == 4):
        return None, f"bbox must be 4 finite numbers [x, y, w, h], not {bbox!r:.60}"
    polygons, rle = (), None
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg:
        if not all(_number_list(p) and len(p) >= 6 and len(p) % 2 == 0 for p in seg):
            return None, "segmentation polygons must be lists of at least 3 finite x, y pairs"
        polygons = tuple(tuple(float(v) for v in p) for p in seg)
    elif isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            return None, "RLE segmentation needs 'counts' and 'size'"
        if [entry.get("height"), entry.get("width")] != list(seg["size"]):
            return None, f"RLE size {seg['size']} is not the image's [height, width]"
        rle = seg
    keypoints = ()
    if "keypoints" in ann:
        kp = ann["keypoints"]
        if not (_number_list(kp) and len(kp) % 3 == 0):
            return None, "keypoints must be finite x, y, v triplets"
        keypoints = tuple((float(kp[i]), float(kp[i + 1]), float(kp[i + 2])) for i in range(0, len(kp), 3))
    if bbox is None:
        derived = geometry.bounds([list(p) for p in polygons]) if polygons else None
        if derived is None and rle is not None:
            derived = geometry.mask_bounds(geometry.rasterise((), rle, *rle["size"]))
        bbox = derived
    width, height = entry.get("width"), entry.get("height")
    if bbox is not None and isinstance(width, (int, float)) and isinstance(height, (int, float)):
        x, y, w, h = bbox
        if w < 0 or h < 0 or x >= width or y >= height or x + w <= 0 or y + h <= 0:
            return None, f"bbox {bbox} lies outside the {width}x{height} image"
    return Obj(ann.get("id"), ann.get("category_id"), tuple(float(v) for v in bbox) if bbox else None,
               polygons, rle, keypoints, extra=dict(ann)), None


def _flip_idx(categories: dict, objects: list[Obj]) -> tuple[int, ...] | None:
    """Keypoint index each keypoint becomes under a mirror, from left_/right_ names (COCO's person)."""
    for obj in objects:
        names = categories.get(obj.category, {}).get("keypoints")
        if obj.keypoints and isinstance(names, list):
            return flip_from_names([str(n) for n in names])
    return None


def _keypoint_names(categories: dict, objects: list[Obj]) -> dict:
    for obj in objects:
        names = categories.get(obj.category, {}).get("keypoints")
        if obj.keypoints and isinstance(names, list):
            return {"keypoint_names": [str(n) for n in names]}
    return {}


def flip_from_names(names: list[str]) -> tuple[int, ...]:
    index = {n: i for i, n in enumerate(names)}
    out = []
    for i, name in enumerate(names):
        for a, b in (("left_", "right_"), ("right_", "left_"), ("left", "right"), ("right", "left")):
            if name.startswith(a) and name.replace(a, b, 1) in index:
                out.append(index[name.replace(a, b, 1)])
                break
        else:
            out.append(i)
    return tuple(out)


# ---- writing -------------------------------------------------------------------------------

def fragment(ann: Annotations, output: str, copy: int | None, width: int, height: int) -> dict:
    """This output's image entry and annotations, as JSON data for the aggregate (ids set by finish)."""
    entry = dict(ann.meta.get("image") or {})
    prefix = ann.meta.get("prefix", "")
    entry["file_name"] = posixpath.relpath(output, prefix) if prefix else output
    if copy is None:
        if ann.meta.get("background"):
            entry.update({"width": width, "height": height})
        return {"copy": None, "image": entry, "annotations": [o.extra for o in ann.objects]}
    entry["width"], entry["height"] = width, height
    return {"copy": copy, "image": entry, "annotations": [_ann_dict(o, width, height) for o in ann.objects]}


def _ann_dict(obj: Obj, width: int, height: int) -> dict:
    out = {k: v for k, v in obj.extra.items() if not k.startswith("_")}
    out.setdefault("category_id", obj.category)
    x, y, w, h = obj.bbox
    if obj.rle is not None:
        out["segmentation"] = obj.rle
        area = obj.extra.get("_area", geometry.mask_area(geometry.rasterise((), obj.rle, height, width)))
    elif obj.polygons:
        # area and box of the polygon as written (its vertices rounded), as pycocotools computes them from
        # the file: from the unrounded vertices 7 of 36 areas of configs/detection_coco.yaml were 2-4 px off
        written = [[round(v, 2) for v in p] for p in obj.polygons]
        out["segmentation"] = written
        area = geometry.polygons_area(written, height, width)
        x, y, w, h = geometry.bounds(written)
    else:
        area = w * h
    out["area"] = round(float(area), 2)
    out["bbox"] = [round(float(v), 2) for v in (x, y, w, h)]
    if obj.keypoints:
        out["keypoints"] = [_num(v) for kp in obj.keypoints for v in kp]
        out["num_keypoints"] = sum(1 for kp in obj.keypoints if kp[2] > 0)
    return out


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def finish(root: Path, target: str, datas: list[dict]) -> tuple[bytes, dict]:
    """The COCO file for the output: every output image (originals keep their ids) and annotation."""
    with open(root / target, encoding="utf-8") as f:
        data = json.load(f)
    kept_ids = {d["image"].get("id") for d in datas if d["copy"] is None}
    kept_ann = {a.get("id") for d in datas if d["copy"] is None for a in d["annotations"]}
    next_image = 1 + max((i for i in (e.get("id") for e in data.get("images", []) if isinstance(e, dict))
                          if isinstance(i, int)), default=0)
    next_ann = 1 + max((i for i in (a.get("id") for a in data.get("annotations", []) if isinstance(a, dict))
                        if isinstance(i, int)), default=0)
    images, annotations = [], []
    for d in datas:
        entry = dict(d["image"])
        if d["copy"] is not None or entry.get("id") not in kept_ids or "id" not in entry:
            entry["id"], next_image = next_image, next_image + 1
        images.append(entry)
        for a in d["annotations"]:
            a = dict(a)
            a["image_id"] = entry["id"]
            if d["copy"] is not None or a.get("id") not in kept_ann:
                a["id"], next_ann = next_ann, next_ann + 1
            annotations.append(a)
    if all(d["copy"] is None for d in datas) and images == data.get("images") \
            and annotations == data.get("annotations", []):
        blob = (root / target).read_bytes()  # copied unchanged (a val split): byte for byte
        return blob, {"images": len(images), "annotations": len(annotations)}
    out = {}
    for key, value in data.items():  # the file's own key order; unknown keys kept verbatim
        out[key] = images if key == "images" else annotations if key == "annotations" else value
    out.setdefault("annotations", annotations)
    blob = (json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    return blob, {"images": len(images), "annotations": len(annotations)}
