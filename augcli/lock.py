"""The output folder's lock: an OS file lock held for a whole run, released by the kernel on death."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from augcli.errors import DatasetError, OutputLockedError


class OutputLock:
    """``fcntl.flock`` on ``OUTPUT/.augcli/lock``, which holds the holder's PID.

    The lock belongs to the open file, not to the file's existence: the file is never deleted
    (deleting it would let a second run lock a new file while the first still holds the old),
    and a crashed run leaves no stale lock because the kernel drops it with the process.
    The descriptor is close-on-exec, and a forked child (a worker) closes its copy at once: the lock
    belongs to the open file, which a forked worker would otherwise share, so after kill -9 of a run the
    folder stayed locked until its workers had died too (a verify right after was refused).
    """

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd
        _HELD.add(fd)

    @classmethod
    def acquire(cls, path: Path, folder: Path) -> OutputLock:
        import fcntl

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DatasetError(f"cannot write to the output folder {folder} ({exc.strerror or exc}): check its "
                               "permissions and the disk, or choose another output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise DatasetError(f"cannot lock the output folder {folder} ({exc.strerror}): its file system "
                                   "does not support file locks; choose a local folder") from None
            holder = _holder(fd)
            os.close(fd)
            who = f"another augcli run (PID {holder})" if _alive(holder) else "another augcli process (a verify?)"
            raise OutputLockedError(
                f"output folder {folder} is in use by {who}; wait for it to finish, stop it, or choose another output"
            ) from None
        with contextlib.suppress(OSError):  # the PID is for the message above; a full disk must not stop us
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @classmethod
    def shared(cls, path: Path, folder: Path) -> OutputLock | None:
        """A reader's lock (``verify``), held while it reads: refused while a run writes the folder, and a
        run started meanwhile waits for nothing (it is refused). None when there is nothing to lock (no
        lock file: a folder from before the journal) or the file system has no locks."""
        import fcntl

        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # never created: verify writes nothing
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            holder = _holder(fd) if busy else ""
            os.close(fd)
            if not busy:
                return None
            raise OutputLockedError(f"output folder {folder} is being written by an augcli run (PID {holder}); "
                                    "verify it once that run has finished") from None
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            _HELD.discard(self._fd)
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = None


_HELD: set[int] = set()  # this process's lock descriptors


def _close_inherited_locks() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _alive(pid: str) -> bool:
    """Whether the PID a run wrote is a live process (a verify holds the lock without writing its own)."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but someone else's
        return True
    return True


def _holder(fd: int) -> str:
    """The PID the holder wrote; it may not have written it yet, so wait a moment."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.05)
    return "unknown"
