"""ManifestRow, the JSONL manifest writer and reader, and the schema version."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Bump when a field changes meaning or goes away; adding a field keeps the version.
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.jsonl"
RUN_NAME = "run.json"
#: augcli's own state in an output folder (lock, journal): never an output, never a stray.
STATE_DIR = ".augcli"
PARTIAL_SUFFIX = ".partial"  # manifest.jsonl.partial of versions before the journal (removed by a run)
#: Arrays larger than this are recorded by shape, dtype and hash instead of their values.
MAX_INLINE_ARRAY = 64


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _compact_encoder() -> Any:
    """One JSON line, as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes it, from one
    C encoder made once (``JSONEncoder.encode`` makes one per call: 1.0 -> 0.35 us for a journal event,
    3.2 -> 2.4 us for a task record; several calls per output). No check for circular values: augcli
    encodes none."""
    from json import encoder

    if encoder.c_make_encoder is None:  # no C accelerator (PyPy)
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    made = encoder.c_make_encoder(None, _not_json, encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(made(value, 0))


compact_json = _compact_encoder()


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
        data = dict(self.__dict__)  # the fields, in their order
        data.update(data.pop("extra"))
        return compact_json(data)


def plain(value: Any) -> Any:
    """Make a sampled parameter plain JSON: numpy scalars and small arrays become numbers and lists."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most parameters: as they are
        return value
    if kind is float:
        return value if math.isfinite(value) else str(value)
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


def write_manifest(output_dir: Path, lines: Iterable[str]) -> None:
    """Replace ``manifest.jsonl`` atomically with these rows (serialized by ``ManifestRow.to_json``),
    streamed in pieces of 1,000 rows: a manifest of millions of rows is never held whole."""
    from augcli.io import write_atomic

    def pieces() -> Iterator[bytes]:
        lines_ = iter(lines)
        while batch := list(itertools.islice(lines_, 1000)):
            yield "".join(line + "\n" for line in batch).encode("utf-8")

    write_atomic(output_dir / MANIFEST_NAME, pieces(), unless_same=True)  # a no-op re-run leaves it untouched


def is_own_file(relpath: str) -> bool:
    """True for the files augcli keeps about a run (manifest, run.json, lock and journal), which are
    not outputs: ``verify`` and stray checks leave them out."""
    return relpath in (MANIFEST_NAME, RUN_NAME) or relpath.startswith(STATE_DIR + "/")


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
