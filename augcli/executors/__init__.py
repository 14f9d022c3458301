"""Where a run's tasks execute: an existing engine behind one small interface.

An executor takes the run's (task, fingerprint) pairs and yields one record per task, in plan order; the
main process alone writes the manifest and run.json from them. Engines:

- ``local``: today's pool of worker processes on this machine (augcli/runner.py), the default;
- ``dask``: a dask distributed cluster (``executor: {name: dask, address: tcp://HOST:8786}``, or a
  ``LocalCluster`` of this machine's cores when no address is given), augcli/executors/dask.py;
- ``ray``: a Ray cluster (``address: auto`` or ``ray://HOST:10001``), augcli/executors/ray.py.

A cluster's workers read the input and write the output themselves, so the output folder must be the same
path on every worker (a local disk for a one-machine cluster, a shared filesystem otherwise). What a chunk
carries is small and picklable: its tasks and the config; what a worker builds from them (pipelines, the
WordNet index, the libraries) is built once per worker process (augcli/executors/cluster.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol

from augcli.config import Config
from augcli.journal import TaskRecord
from augcli.plan import Task


class Executor(Protocol):
    name: str  # local | dask | ray
    address: str | None  # the cluster's, as given or as started (a LocalCluster's scheduler)
    version: str | None  # the engine's (distributed's, ray's); None for the local pool
    started: str | None  # what the run started for itself (a LocalCluster, a local Ray instance), or None
    #: The engine re-runs a lost worker's chunk elsewhere: files that the lost attempt named but no record
    #: lists (and its temp files) are found in the run files at the run's end.
    retries_elsewhere: bool

    def records(self, work: list[tuple[Task, str]], config: Config) -> Iterator[TaskRecord]:
        """One record per (task, fingerprint), in the order of ``work``; stop iterating (``close``) to cancel
        the rest: the tasks running finish the file they are writing and stop."""
        ...

    def workers(self) -> int:
        """Worker processes that took part so far (before any work: that the run would use)."""
        ...

    def close(self) -> None:
        """Give back what ``open_executor`` started or connected to."""
        ...


def _local() -> ModuleType:
    from augcli.executors import local

    return local


def _dask() -> ModuleType:
    from augcli.executors import dask

    return dask


def _ray() -> ModuleType:
    from augcli.executors import ray

    return ray


#: Engine name -> a function importing its module (dask and ray load only when a run asks for them).
ENGINES: dict[str, Callable[[], ModuleType]] = {"local": _local, "dask": _dask, "ray": _ray}


def open_executor(config: Config, tasks: list[Task]) -> Executor:
    """The executor the config names, connected (a cluster that cannot be reached is a DatasetError naming
    its address, raised before anything is written)."""
    return ENGINES[config.executor.name]().open_executor(config, tasks)


def describe(executor: Executor) -> dict[str, Any]:
    """run.json's ``executor``: which engine, where, its version, what the run started itself, how many
    workers took part."""
    return {"name": executor.name, "address": executor.address, "version": executor.version,
            "started": getattr(executor, "started", None), "workers": executor.workers()}
