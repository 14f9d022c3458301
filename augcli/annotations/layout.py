"""What discovery learns from an annotated layout (Layout), and the folder conventions the format
readers share (split folders, label files beside images). A leaf: the readers import it."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from augcli.annotations.model import Annotations

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
ANCHORS = {"voc": "JPEGImages", "yolo": "images", "masks": "images"}


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
