"""Aggregate outputs: files made from many tasks (contract 1 of the team board).

Placeholder holding only the Fragment type until the full module (journaling, fold) lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fragment:
    target: str  # output relpath of the aggregate file, e.g. "annotations/train.json"
    modality: str  # the module under augcli/modalities/ whose finish() folds it ("image", "audio")
    data: Any  # plain JSON data: it is journaled for resume
