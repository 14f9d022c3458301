"""Exceptions augcli raises to its callers. The CLI turns them into messages and exit codes."""

from __future__ import annotations

import difflib
import errno
import os
from dataclasses import dataclass

#: Exit codes, a user-facing contract (see docs/usage/index.md, "Exit codes").
EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2


class AugcliError(Exception):
    """Base class for every error augcli reports to a user."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config, located by its YAML path (``image.pipeline[1].Rotate``)."""

    path: str
    message: str
    warning: bool = False  # a note the run can go on with (a library's warning), not an error

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def errors_in(problems: list[Problem]) -> list[Problem]:
    """The problems that stop a config, without the warnings."""
    return [p for p in problems if not p.warning]


class ConfigError(AugcliError):
    """The config cannot be run. Holds every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"invalid config {source}" if source else "invalid config"
        lines = [f"{head}:" if len(self.problems) > 1 else f"{head}: {self.problems[0]}"]
        if len(self.problems) > 1:
            lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DatasetError(AugcliError):
    """The input dataset or the output folder cannot be used as asked (nothing was written)."""


class ItemError(Exception):
    """One source item could not be processed. Recorded per item; never stops a run by itself."""


#: Exit codes of a run stopped by a signal: 128 + the signal's number, as shells report them.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class OutputLockedError(DatasetError):
    """Another augcli run holds the output folder (nothing was touched)."""


class OutputWriteError(OSError):
    """Writing a file under the output folder failed; ``filename`` is the final path.

    Raised by ``io.write_atomic`` so that a full disk is told apart from a source that does not read.
    """


#: Write errors that no other item can avoid either: the run stops instead of failing item after item.
FATAL_WRITE_ERRNOS = {errno.ENOSPC: "no space left on device", getattr(errno, "EDQUOT", -1): "disk quota exceeded",
                      errno.EROFS: "read-only file system", errno.EIO: "input/output error"}


class RunStoppedError(AugcliError):
    """The run could not go on (disk full, output not writable) or was interrupted by a signal.

    What was written is recorded in the output's journal: re-running the same command resumes.
    ``result`` is the RunResult as far as the run got (also written to run.json).
    """

    def __init__(self, message: str, result, exit_code: int):
        super().__init__(message)
        self.result = result
        self.exit_code = exit_code


# Leaf helpers for naming problems, shared by config.py and the modalities (which never import config.py).
def yaml_path(loc: tuple) -> str:
    """('image', 'pipeline', 2, 'Rotate') -> 'image.pipeline[2].Rotate'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the closest choice, matched case-insensitively, or ''."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def cannot_read(what: str, exc: BaseException) -> str:
    """'cannot read WHAT (why): what to do' for a file that would not read: an OSError (no "[Errno 13]"
    nor the absolute path the caller already names) or text that is not UTF-8."""
    if isinstance(exc, UnicodeDecodeError):
        why = f"not UTF-8 text: byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}"
    else:
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    hint = ""
    if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
        hint = ": make it readable (chmod u+r) or exclude it"
    elif getattr(exc, "errno", None) == errno.EIO:
        hint = ": check the disk"
    elif isinstance(exc, UnicodeDecodeError):
        hint = ": save it as UTF-8"
    return f"cannot read {what} ({why}){hint}"


def read_failure(exc: OSError, root: str, relpath: str) -> str:
    """A task's error for a file it could not read: the source itself ("it") or the file named (a mask, a
    partner; relative to the input folder), why, and what to do where that is clear."""
    name = os.fspath(exc.filename) if exc.filename else None
    if name is None or name == os.path.join(root, relpath):
        return cannot_read("it", exc)
    inside = os.path.relpath(name, root)
    return cannot_read(name if inside.startswith("..") else inside.replace(os.sep, "/"), exc)
