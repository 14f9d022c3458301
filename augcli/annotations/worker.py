"""One annotated image task: place the source and its labels, write each copy with its labels.

Per-image label files (YOLO .txt, VOC .xml, mask PNGs) are written beside each output and get
their own manifest row (``annotation_of``: the image they describe). Files made from many
images (a COCO JSON, VOC ImageSets lists, YOLO's data.yaml) are aggregates: the task returns a
Fragment for each, folded by ``finish`` at the end of the run.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import numpy as np

from augcli.aggregate import Fragment
from augcli.annotations import coco, masks, transform, voc, yolo
from augcli.annotations.model import Annotations, ObjectRecord
from augcli.annotations.transform import load_mask, settings
from augcli.errors import ItemError
from augcli.image_codec import decode, encode, to_display
from augcli.io import read_file, sha256, write_atomic
from augcli.manifest import ManifestRow, applied_steps
from augcli.memo import remember_last

_in_pixels = remember_last(yolo.to_pixels)  # YOLO's normalised labels, once for all copies


def render(config: Any, ann: Annotations, decoded: np.ndarray, seed: int, suffix: str,
           mask: np.ndarray | None = None) -> tuple[bytes, list, Annotations, np.ndarray | None, ObjectRecord]:
    """One copy's image bytes, applied steps, annotations, mask and object record (run, preview, verify)."""
    min_visibility, min_area, _ = settings(config)
    steps = config.image.pipeline
    pipeline = transform.pipeline_for(steps, min_visibility, min_area)
    as_masks = transform.bends_lines(steps)
    pixels = _in_pixels(ann, decoded.shape[1], decoded.shape[0])
    out, new, out_mask, record, applied = transform.augment(pipeline, decoded, pixels, seed, as_masks=as_masks,
                                                           mask=mask)
    return encode(out, suffix, config.image.quality), applied, new, out_mask, record


def process(task: Any, config: Any, rows: list, fragments: list) -> int:
    item, out_root = task.item, str(config.output)
    ann: Annotations = item.annotations
    if ann.error:
        raise ItemError(ann.error)
    data = read_file(os.path.join(config.input, item.relpath))
    source_hash = sha256(data)
    need_pixels = bool(task.outputs or item.mix) or (ann.format == "coco" and ann.meta.get("background"))
    decoded = decode(data, config.image.max_pixels) if need_pixels else None
    label_bytes = b""  # the per-image label file (YOLO .txt, VOC .xml, mask image), placed beside the original
    if ann.source and ann.format in ("yolo", "voc", "masks"):
        label_bytes = read_file(os.path.join(config.input, ann.source))
    label_hash = sha256(label_bytes) if label_bytes else source_hash

    def emit(output: str, blob: bytes, copy: int | None, seed: int | None, steps: list, extra: dict) -> None:
        write_atomic(os.path.join(out_root, output), blob)
        rows.append(ManifestRow(item.relpath, output, item.modality, copy, seed, steps, sha256(blob),
                                source_hash if not extra.get("annotation_of") else label_hash,
                                item.label, item.split, extra))

    stems: list[str] = []
    if task.original:
        emit(task.original, data, None, None, [], {})
        stems.append(_stem(task.original))
        if ann.format == "yolo" and label_bytes:
            emit(yolo.label_path(task.original), label_bytes, None, None, [], {"annotation_of": task.original})
        elif ann.format == "voc" and label_bytes:
            emit(voc.xml_path(task.original), label_bytes, None, None, [], {"annotation_of": task.original})
        elif ann.format == "masks" and label_bytes:
            emit(ann.mask, label_bytes, None, None, [], {"annotation_of": task.original})
        elif ann.format == "coco":
            h, w = decoded.shape[:2] if decoded is not None else (None, None)
            fragments.append(Fragment(ann.source, "image", {"format": "coco",
                                                           **coco.fragment(ann, task.original, None, w, h)}))
    dropped = 0
    mask, mask_info, _ = load_mask(config, ann, decoded.shape) if decoded is not None else (None, None, b"")
    _, _, keep_empty = settings(config)

    def place(output: str, copy: int, seed: int, made: tuple) -> int:
        """Write an output image and its labels; 1 when it is left out instead (it lost every object)."""
        blob, applied, new, out_mask, record = made
        if not keep_empty and record.n_in and not record.kept:
            return 1  # left out as asked (image.annotations.keep_empty: false)
        emit(output, blob, copy, seed, applied_steps(applied), {"objects": record.to_json()})
        stems.append(_stem(output))
        height, width = new.meta["height"], new.meta["width"]
        if ann.format == "yolo":
            emit(yolo.label_path(output), yolo.write_labels(new, width, height), copy, seed, [],
                 {"annotation_of": output})
        elif ann.format == "voc" and not new.meta.get("background"):
            depth = 1 if decoded.ndim == 2 else decoded.shape[2]
            emit(voc.xml_path(output), voc.write_xml(new, posixpath.basename(output), width, height, depth,
                                                      record.clipped),
                 copy, seed, [], {"annotation_of": output})
        elif ann.format == "masks" and out_mask is not None:
            emit(masks.mask_output(ann.mask, output), masks.write_mask(out_mask, mask_info, ann.mask),
                 copy, seed, [], {"annotation_of": output})
        elif ann.format == "coco":
            fragments.append(Fragment(ann.source, "image", {"format": "coco", **coco.fragment(
                new, output, copy, width, height)}))
        return 0

    for copy, (output, seed) in enumerate(zip(task.outputs, task.seeds, strict=True)):
        dropped += place(output, copy, seed, render(config, ann, decoded, seed, os.path.splitext(output)[1], mask))
    if item.mix:  # mixup/cutmix outputs, with both images' objects, beside the source (annotations.mixing)
        from augcli.annotations import mixing

        for planned in item.mix:
            dropped += place(planned.output, planned.copy, planned.seed,
                             mixing.render(config, ann, decoded, mask, planned))
    if ann.format == "voc":
        for listing in sorted(ann.meta.get("lists", {})):
            fragments.append(Fragment(listing, "image", {"format": "voc-list", "stem": _stem(item.relpath),
                                                        "outputs": stems}))
    if ann.format == "yolo" and ann.meta.get("yaml"):
        fragments.append(Fragment(ann.meta["yaml"], "image", {"format": "yolo-yaml"}))
    for companion in ann.meta.get("companions", ()):  # labelmap.txt, classes.txt, README...: byte for byte
        fragments.append(Fragment(companion, "image", {"format": "verbatim"}))
    return dropped


def planned_files(task: Any, config: Any) -> tuple[int, list[str]]:
    """What ``process`` writes for this task (``keep_empty: false`` may leave some out): its own files (images
    and per-image label files) and the aggregate files it adds to (a COCO JSON, ImageSets lists, data.yaml)."""
    ann: Annotations = task.item.annotations
    made = list(task.outputs) + [planned.output for planned in task.item.mix]
    own = len(made) + (task.original is not None)
    if task.original and ann.source and ann.format in ("yolo", "voc", "masks"):
        own += 1  # its label file, placed beside it
    if ann.format == "yolo" or (ann.format == "voc" and not ann.meta.get("background")) or \
            (ann.format == "masks" and ann.mask is not None):
        own += len(made)  # a label file per copy
    aggregates = [ann.source] if ann.format == "coco" and (task.original or made) else []
    if ann.format == "voc":
        aggregates += sorted(ann.meta.get("lists", {}))
    if ann.format == "yolo" and ann.meta.get("yaml"):
        aggregates.append(ann.meta["yaml"])
    return own, aggregates + list(ann.meta.get("companions", ()))


def _stem(relpath: str) -> str:
    return posixpath.splitext(posixpath.basename(relpath))[0]


def finish(config: Any, target: str, datas: list[dict]) -> tuple[bytes, dict]:
    """The aggregate file ``target`` from every fragment's data, in plan order."""
    from pathlib import Path

    root = Path(config.input)
    kind = datas[0].get("format") if datas else None
    if kind == "coco":
        return coco.finish(root, target, datas)
    if kind == "voc-list":
        return voc.finish(root, target, datas)
    if kind == "verbatim":  # a file of the layout (COMPANIONS): as it is
        return read_file(root / target), {}
    return yolo.finish(root, target, datas, Path(config.output))


def preview_cells(config: Any, item: Any, decoded: np.ndarray, copies: int) -> list[tuple]:
    """(image BGR with its annotations drawn, title, applied steps, seed, object record) for the
    original and each copy, made exactly as ``run`` makes them (same seeds, decoded from the bytes)."""
    from augcli.annotations.draw import draw
    from augcli.naming import augmented_name
    from augcli.seeding import item_seed

    ann: Annotations = item.annotations
    if ann.error:
        raise ItemError(ann.error)
    mask, _, _ = load_mask(config, ann, decoded.shape)
    cells = [(draw(to_display(decoded), yolo.to_pixels(ann, decoded.shape[1], decoded.shape[0]), mask),
              "original", [], None, None)]
    for k in range(copies):
        seed = item_seed(config.seed, item.relpath, k)
        suffix = os.path.splitext(augmented_name(item.relpath, k, config.image.format))[1]
        blob, applied, new, out_mask, record = render(config, ann, decoded, seed, suffix, mask)
        cells.append((draw(to_display(decode(blob)), new, out_mask), f"copy {k}", applied, seed,
                      record.to_json()))
    return cells
