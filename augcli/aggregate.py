"""Aggregate outputs: files made from many tasks (audiofolder metadata.csv, COCO JSON, data.yaml, ...).

A worker appends Fragments while it processes a task; they travel with the task's record (and
are journaled, so a resumed run has the fragments of the tasks it reuses). At the end of a
complete run the main process folds every target's fragments, in plan order, with the
``finish`` of the modality that made them and writes the file once, atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fragment:
    target: str  # output relpath of the aggregate file, e.g. "annotations/train.json"
    modality: str  # the modality whose plug-in's finish() folds it ("image", "audio")
    data: Any  # plain JSON data (dicts, lists, str, numbers): it is journaled for resume

    def to_plain(self) -> dict[str, Any]:
        """Shallow: ``data`` is already plain and never changed after (asdict's deep copy of a COCO
        image's annotations cost ~0.4 ms an output)."""
        return {"target": self.target, "modality": self.modality, "data": self.data}


def fold(config: Any, fragments: list[dict[str, Any]], plugin: Callable[[str], Any]
         ) -> tuple[list[tuple[str, str, bytes, dict]], list[dict]]:
    """(target, modality, file bytes, extra manifest fields) per target, targets in order of first
    appearance, and an error entry per target that could not be made (it is not written);
    ``fragments`` are plain fragments (``Fragment.to_plain``) in plan order; ``plugin(modality)`` is
    the modality's plug-in (augcli.modalities.registry.plugin), whose ``finish`` makes the file."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for fragment in fragments:
        groups.setdefault((fragment["modality"], fragment["target"]), []).append(fragment["data"])
    made, errors = [], []
    for (modality, target), datas in groups.items():
        try:
            blob, extra = plugin(modality).finish(config, target, datas)
        except Exception as exc:  # a source table that does not read (encoding, CSV syntax): an error entry
            errors.append({"source": target, "kind": "aggregate",
                           "reason": f"cannot make it: {type(exc).__name__}: {exc}"})
            continue
        made.append((target, modality, blob, dict(extra)))
    return made, errors
