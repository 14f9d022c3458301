"""Find the annotated layout of an input (COCO, YOLO/Ultralytics, Pascal VOC, mask folders) through the
format readers, and refuse steps it cannot feed: discovery's call (augcli/dataset.py)."""

from __future__ import annotations

import fnmatch
import posixpath
from pathlib import Path
from typing import Any

from augcli.annotations.layout import ANCHORS, COMPANIONS, DOCUMENT_STEMS, LAYOUTS, Layout, split_of, under
from augcli.annotations.rules import check_needs, config_problems
from augcli.errors import ConfigError, Problem


def detect(config: Any, relpaths: list[str]) -> Layout:
    """The annotation layout of the input, as the config names it or as found; empty when none."""
    section = config.image.annotations if config.image is not None else None
    if config.image is None or (section is not None and section.format == "none"):
        return Layout()
    from augcli.annotations import coco, masks, voc, yolo

    readers = {"coco": coco.read, "yolo": yolo.read, "voc": voc.read, "masks": masks.read}
    wanted = section.format if section is not None and section.format else None
    order = [wanted] if wanted else ["coco", "yolo", "voc", "masks"]
    root = Path(config.input)
    for name in order:
        layout = readers[name](root, relpaths, section)
        if layout is not None:
            layout.format = name
            _attach_companions(layout, relpaths)
            for relpath in relpaths:  # images outside the labelled set: their split by the same convention
                split = split_of(relpath.split("/"))
                if split and relpath not in layout.splits:
                    layout.splits[relpath] = split
            return layout
    return Layout()


def _attach_companions(layout: Layout, relpaths: list[str]) -> None:
    """Find the layout's companion files, own them (they are neither items nor unmatched) and give every
    image's annotations their names: each task adds them to the output, once per run."""
    roots = set()
    anchor = ANCHORS.get(layout.format or "")
    for relpath in layout.images if anchor else ():
        parts = relpath.split("/")[:-1]
        if anchor in parts:
            roots.add("/".join(parts[: len(parts) - 1 - parts[::-1].index(anchor)]))
    for ann in layout.annotations.values() if layout.format == "coco" else ():
        folder = posixpath.dirname(ann.source)
        roots |= {folder, posixpath.dirname(folder)} if posixpath.basename(folder) == "annotations" else {folder}
    patterns = COMPANIONS.get(layout.format or "", ())
    found = []
    for relpath in relpaths:
        folder, _, name = relpath.rpartition("/")
        if relpath in layout.annotations or relpath in layout.images:
            continue
        below_labels = layout.format == "yolo" and name.lower() == "classes.txt" and under(relpath, "labels")
        named = name.lower().split(".")[0] in DOCUMENT_STEMS or any(fnmatch.fnmatch(name.lower(), p) for p in patterns)
        if below_labels or (folder in roots and named and relpath not in layout.owned):  # owned: data.yaml, ImageSets
            found.append(relpath)
    layout.companions = tuple(sorted(found))
    layout.owned |= set(found)
    for ann in layout.annotations.values():
        ann.meta["companions"] = layout.companions


def layout(config: Any, relpaths: list[str]) -> Layout:
    """Discovery's call: the annotated layout, or a config error for steps it cannot feed."""
    if config.image is None:
        return Layout()
    found = detect(config, relpaths)
    section = config.image.annotations
    if section is not None and section.format not in (None, "none") and found.format is None:
        raise ConfigError([Problem("image.annotations.format", f"is {section.format}, but {config.input} has no "
                                   f"{LAYOUTS[section.format]}; check the input folder or set format: null")])
    problems = [Problem("image.pipeline", reason) for _, reason in check_needs(config.image.pipeline, found.format)]
    if config.image.mix is not None:  # what mixing cannot do on this layout
        problems += config_problems(config, found.format)
    if problems:
        raise ConfigError(problems)
    return found
