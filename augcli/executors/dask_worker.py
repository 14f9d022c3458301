"""What a LocalCluster's worker processes are started with (imported only where distributed is installed)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class LeaveCtrlCToTheRun(WorkerPlugin):
    """SIGINT ignored in a LocalCluster's worker processes: they are in the run's process group, so a Ctrl-C
    reaches them too, and the run's main process stops their chunks itself (between two tasks)."""

    name = "augcli-leave-ctrl-c-to-the-run"

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
