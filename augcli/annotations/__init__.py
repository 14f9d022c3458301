"""Annotated image datasets (COCO, YOLO/Ultralytics, Pascal VOC, mask folders): find the layout,
read each image's annotations for discovery, and name what transforms need them."""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augcli.annotations.model import Annotations, Obj, ObjectRecord

__all__ = ["NEEDS", "UNSUPPORTED", "Annotations", "Layout", "Obj", "ObjectRecord", "check_needs", "detect",
           "layout", "needs"]

#: What a transform needs beyond the image, and why: checked before a run starts.
NEEDS = {
    "BBoxSafeRandomCrop": "bboxes", "RandomSizedBBoxSafeCrop": "bboxes", "AtLeastOneBBoxRandomCrop": "bboxes",
    "RandomCropNearBBox": "bboxes", "ConstrainedCoarseDropout": "bboxes",
    "MaskDropout": "mask", "CropNonEmptyMaskIfExists": "mask",
}
#: Steps that cannot carry annotations at all, and why: refused on an annotated dataset.
REFUSES = {"AugMix": "it mixes differently moved copies of the image, so boxes, masks and keypoints cannot "
                     "follow it; use RandAugment or TrivialAugmentWide on annotated images"}
#: What each format gives the pipeline.
PROVIDES = {"coco": {"bboxes"}, "yolo": {"bboxes"}, "voc": {"bboxes"}, "masks": {"mask"}}
#: Steps augcli cannot run on a single 2-D image, and why.
UNSUPPORTED = {
    "Mosaic": "it combines several images per output; augcli augments one source per output",
    **{name: "it is a 3D/volume transform; augcli augments 2-D images" for name in (
        "CenterCrop3D", "CoarseDropout3D", "CubicSymmetry", "Pad3D", "PadIfNeeded3D", "RandomCrop3D")},
    # a model's input, not an image: written to a file its floats around 0 come out black (Normalize's
    # ImageNet mean/std gave JPEGs of values 0-2, and verify passed them)
    **{name: "it makes a model's input (floats around 0), which an image file cannot hold: the written "
             "image comes out black; do it in your training pipeline" for name in ("Normalize", "ToFloat")},
}
SPLIT_NAMES = ("train", "val", "valid", "validation", "test")
LAYOUTS = {"coco": "COCO JSON (with 'images' and 'annotations') whose file_names exist",
           "yolo": "images/ folder with a labels/ folder of .txt files beside it",
           "voc": "JPEGImages/ folder with an Annotations/ folder of .xml files beside it",
           "masks": "images/ folder with a masks/ folder of same-stem images beside it"}


#: Files that belong to a layout and travel with it, copied byte for byte (aggregates of kind "verbatim"): in the
#: layout's root (the folder holding JPEGImages/, images/, or a COCO file's annotations/ folder), a dataset's
#: documents, and what each format's tools read beside the labels.
DOCUMENT_STEMS = ("readme", "license", "licence", "copying", "citation", "notice")
COMPANIONS = {"voc": ("labelmap.txt",), "yolo": ("classes.txt", "*.names", "*.yaml", "*.yml"), "coco": (), "masks": ()}
_ANCHORS = {"voc": "JPEGImages", "yolo": "images", "masks": "images"}


@dataclass
class Layout:
    """What discovery learns from an annotated layout."""

    format: str | None = None
    annotations: dict[str, Annotations] = field(default_factory=dict)  # image relpath -> its annotations
    images: set[str] = field(default_factory=set)  # image relpaths the layout covers (others are plain)
    owned: set[str] = field(default_factory=set)  # label files: written by the image items, not items themselves
    splits: dict[str, str] = field(default_factory=dict)  # image relpath -> split, where the convention puts it
    errors: list[dict[str, str]] = field(default_factory=list)
    repaired: int = 0
    companions: tuple[str, ...] = ()  # files that travel with the layout (COMPANIONS), copied byte for byte

    def for_image(self, relpath: str) -> Annotations | None:
        if relpath in self.annotations:
            return self.annotations[relpath]
        if relpath in self.images and self.format:
            return Annotations(self.format, "", meta={"background": True, "companions": self.companions})
        if self.format:  # an image outside the annotated layout: augmented the same way, no labels written
            return Annotations("none", "")
        return None


def needs(steps: Any) -> dict[str, str]:
    """Transform name -> what it needs (``bboxes`` or ``mask``), for the steps a pipeline uses."""
    from augcli.annotations.transform import step_names

    return {name: NEEDS[name] for name in sorted(step_names(steps)) if name in NEEDS}


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
    anchor = _ANCHORS.get(layout.format or "")
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


def check_needs(steps: Any, fmt: str | None) -> list[tuple[str, str]]:
    """(step, reason) for each step whose annotations a dataset of format ``fmt`` does not have."""
    have = PROVIDES.get(fmt or "", set())
    out = []
    for name, need in needs(steps).items():
        if need not in have:
            what = "bounding boxes" if need == "bboxes" else "a segmentation mask per image"
            kind = "coco, yolo or voc" if need == "bboxes" else "masks (images/ + masks/ folders)"
            found = f"this dataset is read as {fmt}" if fmt else "no annotations were found"
            out.append((name, f"{name} needs {what}, and {found}; use a {kind} dataset "
                              f"(image.annotations.format) or remove the step"))
    if fmt in PROVIDES:
        from augcli.annotations.transform import step_names

        out += [(name, f"{name} cannot be used on this {fmt} dataset: {REFUSES[name]}")
                for name in sorted(step_names(steps)) if name in REFUSES]
    return out


def layout(config: Any, relpaths: list[str]) -> Layout:
    """Discovery's call: the annotated layout, or a config error for steps it cannot feed."""
    from augcli.errors import ConfigError, Problem

    if config.image is None:
        return Layout()
    found = detect(config, relpaths)
    section = config.image.annotations
    if section is not None and section.format not in (None, "none") and found.format is None:
        raise ConfigError([Problem("image.annotations.format", f"is {section.format}, but {config.input} has no "
                                   f"{LAYOUTS[section.format]}; check the input folder or set format: null")])
    problems = [Problem("image.pipeline", reason) for _, reason in check_needs(config.image.pipeline, found.format)]
    if config.image.mix is not None:  # what mixing cannot do on this layout
        from augcli.annotations.mixing import config_problems

        problems += config_problems(config, found.format)
    if problems:
        raise ConfigError(problems)
    return found


def under(relpath: str, folder: str) -> bool:
    """Whether ``relpath`` lies in a folder named ``folder`` (at any depth)."""
    return folder + "/" in relpath and folder in relpath.split("/")[:-1]


def beside(relpath: str, folder: str, replacement: str, suffix: str) -> str | None:
    """``relpath`` with its last ``folder`` folder (not the file name) renamed ``replacement`` and its
    suffix replaced by ``suffix``, or None when it lies under no such folder:
    ``beside("images/train/x.jpg", "images", "labels", ".txt")`` -> ``labels/train/x.txt``."""
    if folder + "/" not in relpath:  # most files of most datasets: no need to split
        return None
    parts = relpath.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == folder:
            parts[i] = replacement
            return posixpath.splitext("/".join(parts))[0] + suffix
    return None


def split_of(relpath_parts: list[str]) -> str | None:
    """A split folder named where the layout conventions put it (``images/train/x.jpg``)."""
    for part in relpath_parts[:-1]:
        if part.lower() in SPLIT_NAMES:
            return part
    return None
