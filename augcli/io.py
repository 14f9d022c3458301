"""Atomic writes, hashing, and the hook that journals every file before it is renamed into place."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from augcli.errors import ItemError, OutputWriteError

#: ``.<name>.augcli-<pid>.tmp`` in the output's own folder (and ``.<name>.<pid>.tmp`` of older versions):
#: names only augcli makes, so the next run may delete any it finds.
TEMP_NAME = re.compile(r"\..+\.(?:augcli-)?\d+\.tmp\Z", re.DOTALL)

_captured: dict[str, bytes] | None = None  # see capture_writes
# Called with the final path right before each rename (see ``announcing_writes``); None: no journal.
_announce: Callable[[str], None] | None = None


_pid = [os.getpid()]  # getpid is a system call (not cached by glibc): once per process; a forked child learns its own
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def temp_name(name: str) -> str:
    return f".{name}.augcli-{_pid[0]}.tmp"


def write_atomic(path: str | Path, data: bytes | Iterable[bytes], *, unless_same: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A crash leaves either the old file or the new one, never a half-written file under the
    final name. The temporary name carries the process id: one process writes one file at a
    time, so it is unique among live writers. No fsync: this guards against a killed process,
    not a power cut, and an fsync per file would cost more than the augmentation itself.
    ``data`` may be an iterable of byte strings, written one after the other (a file joined from parts
    without holding it whole). Inside ``announcing_writes`` the final path is journaled before the rename, so a file
    that reaches its name is always named in the journal. Failures raise OutputWriteError
    naming the final path.

    ``unless_same``: when ``path`` already holds exactly these bytes it is left untouched (its mtime too)
    and False is returned; a re-run into a complete output rewrites nothing. Returns True when written.
    """
    pieces = [data] if isinstance(data, bytes | bytearray | memoryview) else data
    if _captured is not None:
        _captured[os.fspath(path)] = b"".join(pieces)
        return True
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, temp_name(name))
    fd = None
    digest, size = None, 0
    if unless_same:
        try:
            existing = os.stat(path).st_size
            digest = hashlib.sha256()
        except OSError:
            existing = -1
    try:
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o644)
        except FileNotFoundError:  # the folder is created on first use: no mkdir call per file
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, _WRITE_FLAGS, 0o644)
        for piece in pieces:
            if digest is not None:
                digest.update(piece)
                size += len(piece)
            written = os.write(fd, piece)
            if written < len(piece):  # a short write (a signal, a nearly full disk): the rest, until an error
                with memoryview(piece) as view:
                    while written < len(view):
                        written += os.write(fd, view[written:])
        os.close(fd)
        fd = None
        if digest is not None and size == existing and digest.hexdigest() == sha256_file(path):
            os.unlink(tmp)
            return False
        if _announce is not None:
            _announce(path)
        os.replace(tmp, path)
        return True
    except BaseException as exc:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            raise OutputWriteError(exc.errno, exc.strerror or str(exc), path) from exc
        raise


@contextlib.contextmanager
def announcing_writes(announce: Callable[[str], None]) -> Iterator[None]:
    """Within the block, ``write_atomic`` calls ``announce(final_path)`` before each rename.

    The journal uses it to name every output before it can exist (one process, one task at a time).
    """
    global _announce
    previous, _announce = _announce, announce
    try:
        yield
    finally:
        _announce = previous


def _open_regular(path: str | Path) -> int:
    """A descriptor to read ``path``; ItemError for anything but a regular file (O_NONBLOCK: a FIFO where a
    file was expected opens at once instead of waiting for a writer, and is refused)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ItemError("not a regular file (a pipe, socket or device): remove it or exclude it")
    return fd


def read_file(path: str | Path) -> bytes:
    """A regular file's bytes, read straight from the descriptor: half the cost of ``open(path, "rb").read()``
    (no buffered file object) for the small files most sources are. ItemError for anything but a regular
    file: reading a FIFO would wait forever."""
    fd = _open_regular(path)
    try:
        want, parts = os.fstat(fd).st_size + 1, []
        # all of it in the first read, unless the file system reads short (FUSE, network) or it grew
        while chunk := os.read(fd, want):
            parts.append(chunk)
            want = max(want - len(chunk), 1 << 16)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


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
def file_sha256(path: str | Path) -> str:
    """The sha256 of a regular file's bytes; OSError if it cannot be read, ItemError if it is not a regular file."""
    with open(_open_regular(path), "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else sha256(f.read())


def sha256_file(path: str | Path) -> str | None:
    """Hash of a file's bytes, or None if it cannot be read (absent, a folder, a pipe, unreadable)."""
    try:
        return file_sha256(path)
    except (OSError, ItemError):
        return None


# ---------------------------------------------------------------- the size of an image, from its header


@contextlib.contextmanager
def pil_size_check_lifted():
    """PIL refuses to open an image of more than twice ``Image.MAX_IMAGE_PIXELS`` (and warns above it):
    augcli checks ``image.max_pixels`` itself, so a raised setting must not meet PIL's own limit."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield Image
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def image_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the file's header alone (PIL's ``Image.open`` reads no pixels: 20-40 us
    for a 1080p file that takes 25-100 ms to decode); None for a format PIL does not know, which the
    caller checks once decoded."""
    with pil_size_check_lifted() as Image:
        try:
            with Image.open(io.BytesIO(data)) as img:
                return img.size
        except Exception:  # not an image PIL knows, or a corrupt header: OpenCV says which
            return None


def check_pixels(size: tuple[int, int], max_pixels: int, n_bytes: int, what: str = "the image") -> None:
    width, height = size
    if width * height > max_pixels:
        raise ItemError(f"{what} is {width} x {height} pixels ({width * height / 1e6:,.1f} megapixels, "
                        f"from a {n_bytes / 1e3:,.0f} KB file), more than image.max_pixels ({max_pixels:,}): "
                        "set image.max_pixels higher in the config to augment it, or exclude the file")
