"""ManifestRow, the JSONL manifest writer and reader, and the schema version."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

#: Bump when a field changes meaning or goes away; adding a field keeps the version.
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.jsonl"
RUN_NAME = "run.json"
PARTIAL_SUFFIX = ".partial"
#: Arrays larger than this are recorded by shape, dtype and hash instead of their values.
MAX_INLINE_ARRAY = 64


@dataclass
class ManifestRow:
    """One written file. ``copy`` and ``seed`` are None for a source placed unchanged."""

    source: str
    output: str
    modality: str
    copy: int | None
    seed: int | None
    transforms: list[dict[str, Any]]
    sha256: str
    source_sha256: str
    label: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data.update(self.extra)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def plain(value: Any) -> Any:
    """Make a sampled parameter plain JSON: numpy scalars and small arrays become numbers and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > MAX_INLINE_ARRAY:
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return {"ndarray": {"shape": list(value.shape), "dtype": str(value.dtype), "sha256": digest}}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def applied_steps(applied: list[tuple[str, dict]]) -> list[dict[str, Any]]:
    return [{"name": name, "params": plain(params)} for name, params in applied]


class ManifestWriter:
    """Streams rows to ``manifest.jsonl.partial`` and renames it into place when the run ends."""

    def __init__(self, output_dir: Path):
        self.path = output_dir / MANIFEST_NAME
        self.partial = output_dir / (MANIFEST_NAME + PARTIAL_SUFFIX)
        self._file = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, line: str) -> None:
        """Write one row, already serialized by ``ManifestRow.to_json`` (in the worker)."""
        self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()
        os.replace(self.partial, self.path)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
