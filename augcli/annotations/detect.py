"""Find the annotated layout of an input (COCO, YOLO/Ultralytics, Pascal VOC, mask folders) through the
format readers, and refuse steps it cannot feed: discovery's call (augcli/dataset.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augcli.annotations.layout import LAYOUTS, Layout, split_of
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
            for relpath in relpaths:  # images outside the labelled set: their split by the same convention
                split = split_of(relpath.split("/"))
                if split and relpath not in layout.splits:
                    layout.splits[relpath] = split
            return layout
    return Layout()


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
