"""dask distributed as the executor: a chunk is one ``Client.submit``; records come back in plan order.

``executor: {name: dask, address: tcp://HOST:8786}`` connects to a running scheduler (``dask scheduler``,
with ``dask worker tcp://HOST:8786 --nthreads 1`` on every machine); without an address a ``LocalCluster``
of one single-threaded worker process per usable core is started for the run and closed after it. The
scheduler places the chunks and, when a worker is lost, runs its chunks again on another
(``distributed.scheduler.allowed-failures`` times); since outputs are deterministic and written atomically,
a chunk run twice writes the same bytes. How long to try reaching the scheduler is dask's
``distributed.comm.timeouts.connect`` (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
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
from augcli.workers import forks_workers, usable_cores

INSTALL = "pip install 'augcli[dask]'"
WORKERS_WAIT_SECONDS = 30.0  # a scheduler with no worker yet: how long to wait for one
IN_FLIGHT_PER_WORKER = 4  # chunks submitted ahead of the one the records wait for, per worker


class DaskExecutor:
    name = "dask"
    retries_elsewhere = True

    def __init__(self, client: Any, cluster: Any, address: str):
        import distributed

        self.client, self.cluster, self.address = client, cluster, address
        self.version: str | None = distributed.__version__
        self.started = "LocalCluster" if cluster is not None else None  # started for this run
        self._seen: set[str] = set()

    def n_workers(self) -> int:
        return max(1, len(self.client.nthreads()))  # worker processes: each runs one chunk at a time

    def workers(self) -> int:
        return len(self._seen) if self._seen else self.n_workers()

    def records(self, work: list[tuple[Task, str]], config: Config) -> Iterator[TaskRecord]:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        n_workers = self.n_workers()
        chunks = chunks_of(work, n_workers)
        token = uuid.uuid4().hex
        context = RunContext.of(config, work, token)
        started: dict[str, tuple[int, Any]] = {}  # future key -> (chunk index, future)
        running = as_completed(loop=self.client.loop)

        def submit(index: int) -> None:
            future = self.client.submit(run_chunk, chunks[index], context, key=f"augcli-chunk-{token}-{index}",
                                        pure=False, priority=-index)  # the scheduler starts them in plan order
            started[future.key] = (index, future)
            running.add(future)

        def next_done() -> tuple[int, tuple[str, list[TaskRecord]]]:
            future = next(running)
            index, _ = started.pop(future.key)
            try:
                return index, future.result()
            except KilledWorker as exc:  # every worker that took it died: its sources are errors
                return index, ("", lost_chunk(chunks[index], str(exc).split("\n")[0]))
            except FutureCancelledError:  # the scheduler restarted, or someone cancelled it there
                return index, ("", lost_chunk(chunks[index], "its task was cancelled on the cluster"))

        try:
            yield from in_plan_order(len(chunks), submit, next_done, IN_FLIGHT_PER_WORKER * n_workers, self._seen)
        finally:
            if started:
                self._stop([future for _, future in started.values()], context.stop_file)

    def _stop(self, futures: list, stop_file: str) -> None:
        """Cancel the chunks not done: running ones stop after the task they are doing (the stop file), the
        others start and stop at once; then whatever is still there is cancelled on the cluster."""
        from distributed import wait

        with contextlib.suppress(OSError):
            open(stop_file, "x").close()
        try:
            with contextlib.suppress(Exception), self.client.as_current():
                wait(futures, timeout=STOP_WAIT_SECONDS)
            with contextlib.suppress(Exception):
                self.client.cancel(futures, force=True)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(stop_file)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def open_executor(config: Config, tasks: list[Task]) -> DaskExecutor:
    try:
        import dask
        import distributed
    except ImportError:
        raise ConfigError([Problem("executor.name", f"dask is not installed: {INSTALL}")]) from None
    from dask.utils import parse_timedelta

    address = config.executor.address
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its connection retries are not the user's news
    if not address:
        cluster = _local_cluster()
        client = distributed.Client(cluster, set_as_default=False)
        return DaskExecutor(client, cluster, cluster.scheduler_address)
    timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # refused, timed out, a name that does not resolve, not an address at all
        why = str(exc).split("\n")[0] or type(exc).__name__
        raise DatasetError(f"cannot reach the dask scheduler at {address} ({why}): check that `dask scheduler` "
                           "runs there, the host and port, and that this machine may connect to it") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_WAIT_SECONDS)
    except Exception:
        client.close()
        raise DatasetError(f"the dask scheduler at {address} has no workers (waited {WORKERS_WAIT_SECONDS:.0f} s): "
                           f"start some with `dask worker {address} --nthreads 1`") from None
    return DaskExecutor(client, None, address)


def _local_cluster() -> Any:
    """One single-threaded worker process per usable core, on 127.0.0.1 only, no dashboard; its workers leave
    Ctrl-C to this process (they are in its process group), which stops the run's chunks itself.

    On Linux the workers are forked, as the local pool's are (augcli/workers.py): they start with what
    this process has imported, albumentations and the rest; spawned, each imported it all again, and
    starting and closing the cluster took ~6 s more than the work (0.6 s forked). The main thread only
    waits meanwhile (no lock held); a worker the nanny restarts later is spawned."""
    import dask
    from distributed import LocalCluster

    from augcli.executors.dask_worker import LeaveCtrlCToTheRun

    loopback = "127.0.0.1:0"  # their HTTP servers (health, metrics) too: 0.0.0.0 otherwise
    start = "fork" if forks_workers() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": start}):
        return LocalCluster(n_workers=usable_cores(), threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=loopback, scheduler_kwargs={"dashboard": False},
                            worker_dashboard_address=loopback, silence_logs=logging.ERROR,
                            plugins=(LeaveCtrlCToTheRun(),))
