"""What a preview shows, as data: the cells of a source (original and copies) and text samples, and
which sources are shown. A leaf: each modality's plug-in makes them (``preview``), preview.py draws them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CELL = 192  # image area of a grid cell, in pixels (square; images are letterboxed into it)
BACKGROUND = (40, 40, 40)  # around and between what a cell shows


@dataclass
class Cell:
    image: np.ndarray  # BGR uint8, full size, as the output file decodes (audio: its log-mel spectrogram)
    title: str  # "original", "copy 2"
    steps: list[dict[str, Any]] = field(default_factory=list)  # applied steps, as in the manifest
    seed: int | None = None
    clip: bytes | None = None  # audio: the file bytes a run writes, to listen to
    clip_suffix: str = ""
    objects: dict[str, Any] | None = None  # annotated images: objects in / kept / dropped / clipped


@dataclass
class Sample:
    source: str
    label: str | None
    cells: list[Cell] = field(default_factory=list)
    error: str | None = None


@dataclass
class TextSample:
    source: str  # "train/reviews.csv row 3", "train/quotes.txt line 2"
    label: str | None
    original: str
    copies: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (text, applied steps)


def pick_samples(items: list[Any], n: int) -> list[Any]:
    """``n`` items (dataset.Item) spread across labels (round robin), evenly spaced within each label;
    deterministic."""
    by_label: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        by_label[item.label or ""].append(item)
    labels = sorted(by_label)
    quota = dict.fromkeys(labels, 0)
    for i in range(min(n, len(items))):
        candidates = [lb for lb in labels if quota[lb] < len(by_label[lb])]
        quota[candidates[i % len(candidates)]] += 1
    picked = []
    for label in labels:
        group, q = by_label[label], quota[label]
        picked += [group[(j * len(group)) // q] for j in range(q)]
    return sorted(picked, key=lambda item: (item.label or "", item.relpath))
