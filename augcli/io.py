"""Atomic writes and hashing."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

_captured: dict[str, bytes] | None = None  # see capture_writes


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A crash leaves either the old file or the new one, never a half-written file under the
    final name. The temporary name carries the process id: one process writes one file at a
    time, so it is unique among live writers. No fsync: this guards against a killed process,
    not a power cut, and an fsync per file would cost more than the augmentation itself.
    """
    if _captured is not None:
        _captured[os.fspath(path)] = data
        return
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:  # the folder is created on first use: no mkdir call per file
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o644)
    try:
        with memoryview(data) as view:
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def capture_writes() -> Iterator[dict[str, bytes]]:
    """Within the block, ``write_atomic`` writes nothing and records ``{path: data}`` instead.

    ``verify`` regenerates outputs in memory with the modalities' own ``process``.
    """
    global _captured
    previous, _captured = _captured, {}
    try:
        yield _captured
    finally:
        _captured = previous
