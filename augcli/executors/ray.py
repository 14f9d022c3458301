"""Ray as the executor: a chunk is one Ray task (one CPU); records come back in plan order.

``executor: {name: ray, address: auto}`` joins the Ray cluster this machine is part of (``ray start``),
``ray://HOST:10001`` connects through Ray Client, ``HOST:6379`` to a cluster's head; without an address a
local Ray instance of this machine's cores is started for the run and shut down after it (Ray listens on the
machine's network address even then: ``resolve_ip_for_localhost`` replaces 127.0.0.1).
A worker process lost mid-task has its task run again elsewhere (Ray's ``max_retries`` for system
failures); a task that fails for its own reason is an error record, as with every executor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

from augcli.config import Config
from augcli.errors import ConfigError, DatasetError, Problem
from augcli.executors.cluster import STOP_WAIT_SECONDS, RunContext, chunks_of, in_plan_order, lost_chunk, run_chunk
from augcli.journal import TaskRecord
from augcli.plan import Task
from augcli.workers import usable_cores

INSTALL = "pip install 'augcli[ray]'"
IN_FLIGHT_PER_WORKER = 4
RETRIES = 3  # a lost worker's task is run again this many times, as dask's allowed-failures


class RayExecutor:
    name = "ray"
    retries_elsewhere = True

    def __init__(self, ray: Any, address: str | None, started: bool):
        self.ray, self.address, self.version = ray, address, ray.__version__
        self.started = "local Ray instance" if started else None
        self._seen: set[str] = set()

    def n_workers(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def workers(self) -> int:
        return len(self._seen) if self._seen else self.n_workers()

    def records(self, work: list[tuple[Task, str]], config: Config) -> Iterator[TaskRecord]:
        ray = self.ray
        from ray.exceptions import RayError, TaskCancelledError, WorkerCrashedError

        n_workers = self.n_workers()
        chunks = chunks_of(work, n_workers)
        context = RunContext.of(config, work, uuid.uuid4().hex)
        remote = ray.remote(run_chunk).options(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)
        context_ref = ray.put(context)
        started: dict[Any, int] = {}  # object ref -> chunk index

        def submit(index: int) -> None:
            started[remote.remote(chunks[index], context_ref)] = index

        def next_done() -> tuple[int, tuple[str, list[TaskRecord]]]:
            (ref,), _ = ray.wait(list(started), num_returns=1)
            index = started.pop(ref)
            try:
                return index, ray.get(ref)
            except (WorkerCrashedError, TaskCancelledError) as exc:  # its workers kept dying, or cancelled
                return index, ("", lost_chunk(chunks[index], str(exc).split("\n")[0]))
            except RayError as exc:  # a bug in the task, not a bad item (those are records): raised here
                cause = getattr(exc, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise

        try:
            yield from in_plan_order(len(chunks), submit, next_done, IN_FLIGHT_PER_WORKER * n_workers, self._seen)
        finally:
            if started:
                self._stop(list(started), context.stop_file)

    def _stop(self, refs: list, stop_file: str) -> None:
        """As dask's: the running chunks stop after their task (the stop file), the others at once; then
        what is left is cancelled."""
        with contextlib.suppress(OSError):
            open(stop_file, "x").close()
        try:
            with contextlib.suppress(Exception):
                _, left = self.ray.wait(refs, num_returns=len(refs), timeout=STOP_WAIT_SECONDS)
                for ref in left:
                    self.ray.cancel(ref, force=True)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(stop_file)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ray.shutdown()


def open_executor(config: Config, tasks: list[Task]) -> RayExecutor:
    try:
        import ray
    except ImportError:
        raise ConfigError([Problem("executor.name", f"ray is not installed: {INSTALL}")]) from None
    address = config.executor.address
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
             "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **({} if address.startswith("ray://") else quiet))
        else:  # a local instance for this run (Ray puts it on the machine's network address, not 127.0.0.1)
            ray.init(num_cpus=usable_cores(), **quiet)
    except Exception as exc:  # no cluster there, refused, timed out, not an address
        with contextlib.suppress(Exception):
            ray.shutdown()
        why = str(exc).strip().split("\n")[0] or type(exc).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise DatasetError(f"cannot reach {where} ({why}): check that `ray start --head` runs there, the address "
                           "(auto, HOST:6379 or ray://HOST:10001), and that this machine may connect to it") from None
    started = not address
    return RayExecutor(ray, address or ray.get_runtime_context().gcs_address, started)
