"""The local pool: worker processes forked on this machine (loky elsewhere), as augcli/runner.py runs them."""

from __future__ import annotations

from collections.abc import Iterator

from augcli.config import Config
from augcli.journal import TaskRecord
from augcli.plan import Task
from augcli.runner import execute


class LocalPool:
    name, address, version, started = "local", None, None, None
    retries_elsewhere = False  # a dead worker is runner.WorkerDied: the run names its sources and goes on

    def __init__(self, config: Config, tasks: list[Task]):
        self._planned = min(config.n_workers(tasks), max(1, len(tasks)))
        self._used: int | None = None

    def records(self, work: list[tuple[Task, str]], config: Config) -> Iterator[TaskRecord]:
        self._used = max(self._used or 0, min(config.n_workers([task for task, _ in work]), max(1, len(work))))
        return execute(work, config)

    def workers(self) -> int:
        return self._used if self._used is not None else self._planned

    def close(self) -> None:
        pass


def open_executor(config: Config, tasks: list[Task]) -> LocalPool:
    return LocalPool(config, tasks)
