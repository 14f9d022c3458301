"""Discover the items of an input folder: relpath, modality, label, split, and what to do with it."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augcli.annotations.detect import layout as annotations_layout
from augcli.config import MODALITIES, Config

AUGMENT, COPY = "augment", "copy"


@dataclass(frozen=True)
class Mixed:
    """A planned mixup/cutmix output of a source: its partner was drawn with the output's seed (augcli.mix)."""

    output: str
    copy: int  # k of ``__mixk``
    seed: int
    partner: str
    partner_label: str | None
    # an annotated partner's labels (augcli.annotations.model.Annotations): the mixed output keeps its objects too
    partner_annotations: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Item:
    relpath: str  # POSIX path relative to the input root
    modality: str
    label: str | None
    split: str | None
    action: str  # AUGMENT or COPY
    sidecars: tuple[str, ...] = ()  # same-stem files that belong to this item (a clip's transcript)
    mix: tuple[Mixed, ...] = ()  # mixup/cutmix outputs made from this source and a partner (augcli.mix)
    annotations: Any = field(default=None, compare=False)  # annotations.model.Annotations of an annotated image


@dataclass
class Discovery:
    items: list[Item]
    unmatched: int = 0  # files no modality's include pattern took
    left_out_splits: Counter = field(default_factory=Counter)  # split -> files neither augmented nor copied
    errors: list[dict[str, str]] = field(default_factory=list)  # {"source", "reason"} of files that cannot be used
    annotation_format: str | None = None  # coco | yolo | voc | masks, when the images are annotated
    annotations_repaired: int = 0  # label values put back into range on read (YOLO rounding)


def glob_to_regex(pattern: str) -> re.Pattern:
    """Compile a gitignore-style glob: ``*`` stays in one folder, ``**/`` spans zero or more.

    Matching ignores case, so ``**/*.jpg`` also takes ``IMG_0001.JPG``.
    """
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z", re.IGNORECASE)


def _matcher(patterns: list[str]):
    """relpath -> whether any of the patterns matches it: one regex for all of them (one call per file)."""
    if not patterns:
        return lambda relpath: False
    either = "|".join(f"(?:{glob_to_regex(p.removeprefix('./')).pattern})" for p in patterns)
    regex = re.compile(either, re.IGNORECASE)
    return lambda relpath: regex.match(relpath) is not None


def walk_files(root: Path, include_hidden: bool = False,
               unreadable: list[tuple[str, OSError]] | None = None) -> list[str]:
    """Every file below ``root`` as a sorted POSIX relpath; hidden files and folders only if asked.

    A folder that cannot be listed is appended to ``unreadable`` as (relpath, error) when given
    (os.walk would otherwise skip it without a word).
    """
    def failed(exc: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(exc.filename).relative_to(root).as_posix(), exc))

    found = []
    for folder, dirnames, filenames in os.walk(root, onerror=failed):
        if not include_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            filenames = [name for name in filenames if not name.startswith(".")]
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        found += [prefix + name for name in filenames]
    return sorted(found)


def printable(relpath: str) -> str:
    """A relpath as text that can be printed and written as UTF-8: bytes that are not UTF-8 (which
    Python keeps as lone surrogates) are shown escaped, ``caf\\xe9.jpg``."""
    return os.fsencode(relpath).decode("utf-8", "backslashreplace")


def is_utf8(relpath: str) -> bool:
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def discover(config: Config) -> Discovery:
    modalities = {}  # first match wins, in this order
    for name in MODALITIES:
        section = getattr(config, name)
        if section is not None:
            modalities[name] = (_matcher(section.include), _matcher(section.exclude))
    excluded = _matcher(config.exclude)
    augment_splits = {s.lower() for s in config.splits.augment}
    copy_splits = {s.lower() for s in config.splits.copy_}
    known_splits = augment_splits | copy_splits | {"train", "val", "valid", "validation", "test"}
    unreadable: list[tuple[str, OSError]] = []
    relpaths = walk_files(config.input, unreadable=unreadable)
    sidecars, metadata = _sidecars(config, [p for p in relpaths if is_utf8(p)], modalities.get("audio"))
    owned = {path for paths in sidecars.values() for path in paths} | set(metadata)
    # COCO, YOLO, VOC or mask folders (labels move with the pixels), among the files the config takes
    layout = annotations_layout(config, [p for p in relpaths if not excluded(p)])
    owned |= layout.owned
    top_folders = {p.split("/", 1)[0].lower() for p in relpaths if "/" in p}
    has_splits = bool(top_folders & known_splits)

    result = Discovery(items=[], errors=list(layout.errors),
                       annotation_format=layout.format, annotations_repaired=layout.repaired)
    for folder, exc in unreadable:
        if not excluded(folder + "/"):
            result.errors.append({"source": printable(folder) + "/", "kind": "folder", "reason": (
                f"cannot read this folder ({exc.strerror or exc}): its files were not processed; "
                "make it readable (chmod u+rx) or exclude it")})
    for relpath in relpaths:
        if excluded(relpath) or relpath in owned:
            continue
        modality = next((m for m, (inc, exc) in modalities.items() if inc(relpath) and not exc(relpath)), None)
        if modality is None:
            result.unmatched += 1
            continue
        if not is_utf8(relpath):
            # every output, manifest row and seed names the file as UTF-8 text
            result.errors.append({"source": printable(relpath), "kind": "file name", "reason": (
                "the file name is not valid UTF-8 (those bytes are shown as \\xNN); rename it, "
                "e.g. with convmv, or exclude it")})
            continue
        parts = relpath.split("/")
        split = parts[0] if has_splits and len(parts) > 1 and parts[0].lower() in known_splits else None
        below = parts[1:] if split else parts
        label = below[0] if len(below) > 1 else None
        annotations = layout.for_image(relpath) if modality == "image" else None
        if annotations is not None:  # the labels are the annotations; the split is where the layout puts it
            split, label = layout.splits.get(relpath, split), None
        if split is None or split.lower() in augment_splits:
            action = AUGMENT
        elif split.lower() in copy_splits:
            action = COPY
        else:
            result.left_out_splits[split] += 1
            continue
        result.items.append(Item(relpath, modality, label, split, action, sidecars.get(relpath, ()),
                                 annotations=annotations))
    return result


def _sidecars(config: Config, relpaths: list[str], audio_match) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """clip relpath -> its sidecar relpaths (clip.txt, clip.json, ...); and the audiofolder metadata files."""
    if audio_match is None:
        return {}, []
    include, exclude = audio_match
    present = set(relpaths)
    found: dict[str, tuple[str, ...]] = {}
    for relpath in relpaths:
        if include(relpath) and not exclude(relpath):
            stem = relpath.rsplit(".", 1)[0]
            found[relpath] = tuple(stem + suffix for suffix in config.audio.sidecars if stem + suffix in present)
    # Hugging Face audiofolder: a metadata.csv beside the clips (or above them) describes them:
    # it is rewritten for the outputs, not augmented as a text table.
    metadata = sorted(m for m in present if m.rsplit("/", 1)[-1] == "metadata.csv"
                      and any(r.startswith(m[: -len("metadata.csv")]) for r in found))
    return found, metadata
