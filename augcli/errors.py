"""Exceptions augcli raises to its callers. The CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass

#: Exit codes, a user-facing contract (see README "Exit codes").
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

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


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
