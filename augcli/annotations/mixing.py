"""Mixup and CutMix of annotated images: one mixed output with the objects of both images.

Labels stay hard, as Ultralytics mixes detection sets. Mixup keeps every object of the source
and of the partner (the partner's scaled with its pixels when it was resized to the source's
size). CutMix keeps the source's objects outside the pasted box and the partner's inside it:

- a box keeps its visible part: the partner's, clipped to the pasted box; the source's, the
  bounding box of what the pasted box leaves of it (a box minus a rectangle);
- a polygon of the partner is clipped to the pasted box; a polygon of the source is rasterised,
  the box cleared and the rest traced again (exact in pixels, but a box wholly inside it would be
  a hole, which COCO and YOLO polygons cannot have: its outline stays); an RLE mask is cut as an array;
- the visible fraction is the visible area over the object's area in the image it comes from
  (box areas for boxes, rasterised pixels for polygons and masks): an object below
  ``image.annotations.min_visibility``, or whose kept box is below ``min_area``, is dropped;
- a keypoint in the other image's part becomes ``0, 0, 0`` (absent), as one that leaves the image;
- a mask-folder mask gets the partner's mask in the box (nearest neighbour: no new label values).

The partner's objects carry ids ``partner:<id>`` in the manifest's ``objects`` record.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from augcli.annotations import geometry, yolo
from augcli.annotations.model import Annotations, Obj, ObjectRecord
from augcli.annotations.rules import config_problems
from augcli.errors import ItemError

PARTNER = "partner:"


def render(config: Any, ann: Annotations, decoded: np.ndarray, mask: np.ndarray | None, planned: Any
           ) -> tuple[bytes, list, Annotations, np.ndarray | None, ObjectRecord]:
    """One mixed output's image bytes, applied step, annotations, mask and object record."""
    from augcli import mix
    from augcli.annotations.transform import load_mask, settings
    from augcli.image_codec import encode

    method = config.image.mix.method
    partner_ann: Annotations | None = planned.partner_annotations
    if partner_ann is None:
        raise ItemError(f"mix partner {planned.partner} of {planned.output}: its annotations are unknown")
    partner_bytes, partner, resized = mix.read_partner(config, planned, decoded)
    mixed, lam, box = mix.mix_images(method, decoded, partner, planned.seed, mix.alpha_of(config.image.mix))
    height, width = decoded.shape[:2]
    partner_height, partner_width = resized["from"] if resized else (height, width)
    source = yolo.to_pixels(ann, width, height)
    partners = scaled(yolo.to_pixels(partner_ann, partner_width, partner_height).objects,
                      width / partner_width, height / partner_height, height, width)
    min_visibility, min_area, _ = settings(config)
    limits = (min_visibility, min_area)
    rect = tuple(box) if box is not None else None
    record = ObjectRecord(n_in=len(source.objects) + len(partners))
    kept = [o for o in (_judge(obj, rect, False, height, width, limits, record) for obj in source.objects) if o]
    kept += [o for o in (_judge(obj, rect, True, height, width, limits, record) for obj in partners) if o]
    record.kept = len(kept)

    out_mask = None
    if mask is not None:
        if method != "cutmix":  # refused at validate (config_problems): said again for a library caller
            raise ItemError(str(config_problems(config, "masks")[0]))
        partner_mask, _, _ = load_mask(config, partner_ann, (partner_height, partner_width))
        out_mask = mask.copy()
        x1, y1, x2, y2 = box
        out_mask[y1:y2, x1:x2] = nearest(partner_mask, height, width)[y1:y2, x1:x2]
    meta = {**source.meta, "width": width, "height": height}
    if ann.format == "voc":  # the partner's objects join the source's XML, at the places they get there
        xml, places = _voc_xml(ann, partner_ann, record)
        if xml is not None:
            meta.update(xml=xml, background=False)
            kept = [o.with_(id=places.get(o.id, o.id)) for o in kept]
    new = Annotations(ann.format, ann.source, tuple(kept), ann.mask, meta, ann.flip_idx, ann.repaired)
    blob = encode(mixed, os.path.splitext(planned.output)[1], config.image.quality)
    return blob, [mix.mix_step(config.image.mix, planned, partner_bytes, lam, box, resized)], new, out_mask, record


def nearest(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """``values`` (a label mask) resized to height x width by nearest neighbour at pixel centres."""
    if values.shape[:2] == (height, width):
        return values
    rows = np.minimum(((np.arange(height) + 0.5) * values.shape[0] / height).astype(int), values.shape[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * values.shape[1] / width).astype(int), values.shape[1] - 1)
    return values[rows][:, cols]


def scaled(objects: tuple[Obj, ...], sx: float, sy: float, height: int, width: int) -> list[Obj]:
    """The partner's objects (pixel coordinates) scaled as its pixels were, with ``partner:`` ids."""
    out = []
    for obj in objects:
        changes: dict[str, Any] = {"id": f"{PARTNER}{obj.id}"}
        if (sx, sy) != (1.0, 1.0):
            if obj.bbox is not None:
                x, y, w, h = obj.bbox
                changes["bbox"] = (x * sx, y * sy, w * sx, h * sy)
            if obj.polygons:  # the box of a segmentation is its bounds, as after any transform
                changes["polygons"] = tuple(tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(p))
                                            for p in obj.polygons)
                changes["bbox"] = geometry.bounds([list(p) for p in changes["polygons"]])
            changes["keypoints"] = tuple((x * sx, y * sy, v) if v > 0 else (0.0, 0.0, 0.0)
                                         for x, y, v in obj.keypoints)
            if obj.rle is not None:
                resized = nearest(geometry.rasterise((), obj.rle, *obj.rle["size"]), height, width)
                changes["rle"] = geometry.encode_rle(resized, obj.rle)
                changes["extra"] = {**obj.extra, "_area": geometry.mask_area(resized)}
                changes["bbox"] = geometry.mask_bounds(resized) or changes.get("bbox", obj.bbox)
        out.append(obj.with_(**changes))
    return out


def _judge(obj: Obj, rect: tuple | None, inside: bool, height: int, width: int, limits: tuple[float, float],
           record: ObjectRecord) -> Obj | None:
    """The object as the mixed output shows it, recorded kept (clipped or not) or dropped.

    ``rect`` is CutMix's pasted box (None for mixup: every object stays whole); ``inside`` says the
    object is the partner's (it shows inside the box) rather than the source's (outside it)."""
    cut, visible = (obj, 1.0) if rect is None else _cut(obj, rect, inside, height, width)
    min_visibility, min_area = limits
    if cut is None or visible <= 0.0 or visible < min_visibility or (
            cut.bbox is not None and cut.bbox[2] * cut.bbox[3] < min_area):
        record.dropped.append(obj.id)
        return None
    if visible < 1.0:
        record.clipped.append(obj.id)
    return cut


def _cut(obj: Obj, rect: tuple, inside: bool, height: int, width: int) -> tuple[Obj | None, float]:
    """The object's part inside (partner) or outside (source) the pasted box, and its visible fraction."""
    x1, y1, x2, y2 = rect
    changes: dict[str, Any] = {}
    if obj.keypoints:
        changes["keypoints"] = tuple(
            (x, y, v) if v > 0 and (x1 <= x < x2 and y1 <= y < y2) == inside else (0.0, 0.0, 0.0)
            for x, y, v in obj.keypoints)
    pixels = geometry.rasterise(obj.polygons, obj.rle, height, width) if obj.rle is not None or obj.polygons \
        else None
    total = geometry.mask_area(pixels) if pixels is not None else 0.0
    if total:  # a segmentation: judged by its pixels
        visible = np.zeros_like(pixels) if inside else pixels.copy()
        visible[y1:y2, x1:x2] = pixels[y1:y2, x1:x2] if inside else 0
        shown = geometry.mask_area(visible)
        if shown == total:
            return obj.with_(**changes), 1.0
        if obj.rle is not None:
            changes.update(rle=geometry.encode_rle(visible, obj.rle), bbox=geometry.mask_bounds(visible),
                           extra={**obj.extra, "_area": shown})
        else:  # the partner's polygons clipped to the box; the source's remainder traced from its pixels
            polygons = [geometry.clip_polygon_to(p, rect) for p in obj.polygons] if inside \
                else geometry.trace(visible)
            polygons = [p for p in polygons if p]
            if not polygons:
                return None, 0.0
            changes.update(polygons=tuple(tuple(p) for p in polygons), bbox=geometry.bounds(polygons))
        return (obj.with_(**changes), shown / total) if shown else (None, 0.0)
    if obj.bbox is None:  # keypoints alone
        return obj.with_(**changes), 1.0
    # a box (or a polygon too thin to cover a pixel centre): judged by its box
    box, shown_area = geometry.box_inside(obj.bbox, rect) if inside else geometry.box_outside(obj.bbox, rect)
    if box is None:
        return None, 0.0
    area = obj.bbox[2] * obj.bbox[3]
    changes["bbox"] = box
    if obj.polygons and inside:
        changes["polygons"] = tuple(tuple(q) for q in (geometry.clip_polygon_to(p, rect) for p in obj.polygons) if q)
        if not changes["polygons"]:  # nothing of its outline in the box: no segmentation left to write
            return None, 0.0
    return obj.with_(**changes), shown_area / area if area else 1.0


def _voc_xml(ann: Annotations, partner: Annotations, record: ObjectRecord) -> tuple[str | None, dict[str, int]]:
    """The XML the mixed output's is written from: the source's with the partner's ``object``
    elements appended (the partner's own when the source has none), clipped ones ``truncated``;
    and the index each partner object has in it (VOC objects are known by their place). None when
    the partner has no XML: the source's is used as it is."""
    import xml.etree.ElementTree as ET

    if not partner.meta.get("xml"):
        return None, {}
    base = ET.fromstring(ann.meta["xml"]) if ann.meta.get("xml") else None
    partner_tree = ET.fromstring(partner.meta["xml"])
    offset = len(base.findall("object")) if base is not None else 0
    tree = base if base is not None else partner_tree
    appended = partner_tree.findall("object")
    if base is not None and appended:
        closing = base[-1].tail if len(base) else None
        for element in appended:  # indented as the source's children are
            if len(tree):
                tree[-1].tail = base.text
            tree.append(element)
        tree[-1].tail = closing
    ids = {f"{PARTNER}{i}": offset + i for i in range(len(appended))}
    for i, element in enumerate(appended):
        if f"{PARTNER}{i}" in record.clipped and element.find("truncated") is not None:
            element.find("truncated").text = "1"
    return ET.tostring(tree, encoding="unicode"), ids
