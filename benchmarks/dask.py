"""What the dask executor costs next to the local pool: the same 600-image job, whole commands, alternating.

    pip install -e '.[samples,dask]'
    python benchmarks/dask.py [--repeats 5] [--quick]

The job is benchmarks/images.py's "small" size: 600 JPEGs of 512x512 cut from scikit-image's photos,
HorizontalFlip + Rotate(15) + RandomBrightnessContrast, 1 copy, keep_originals off. Contenders, each a
whole `augcli run` in a fresh process, start-up included, taking turns:
  local pool     `augcli run CONFIG --quiet` (workers: auto, forked processes)
  dask cluster   `... --executor dask --address tcp://127.0.0.1:PORT`: a `dask scheduler` and 2
                 `dask worker --nthreads 1` processes started once before the timing (on 127.0.0.1), as a
                 cluster is: running before the job and after it
  dask LocalCluster  `... --executor dask`: the run starts a LocalCluster of 2 workers and closes it
Every contender's manifest is checked against the local pool's, byte for byte, before the timing.
Target: the dask cluster at most 15% slower than the local pool (ratio >= 0.87).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import harness
import images

# this file's folder is sys.path[0] and this file is named dask.py: `import distributed` would import it as dask
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != str(Path(__file__).resolve().parent)]


LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")  # its HTTP server: 0.0.0.0 otherwise


@contextlib.contextmanager
def cluster(folder: Path, n_workers: int = 2):
    """A dask scheduler and ``n_workers`` single-threaded workers on 127.0.0.1, stopped at the end. They stay
    in this process's session, as every contender does: Linux's autogroup scheduling gives each session an
    equal share of a busy machine, and workers in sessions of their own would outweigh the local pool's."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    logs = open(folder / "cluster.log", "wb")  # noqa: SIM115 (closed below)
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               *LOOPBACK_HTTP, "--scheduler-file", str(scheduler_file)],
                              stdout=logs, stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + 60
        while not (scheduler_file.is_file() and scheduler_file.stat().st_size):
            if time.monotonic() > deadline:
                raise SystemExit(f"the dask scheduler did not start; see {folder / 'cluster.log'}")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(n_workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                           *LOOPBACK_HTTP, "--host", "127.0.0.1"],
                                          stdout=logs, stderr=subprocess.STDOUT))
        import distributed

        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield address
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "dask")
    n, side, steps, copies = images.SIZES["small"]
    print(f"{n} JPEGs {side}x{side}, {steps}, {copies} copy, {harness.cores()} cores, {repeats} rounds, "
          f"scratch {scratch}")
    data = images.make_inputs(scratch, n, side)
    outs = {name: scratch / f"out-{name}" for name in ("local", "cluster", "localcluster")}
    config = images.write_config(scratch / "small.yaml", data, outs["local"], steps, copies)
    with cluster(scratch / "cluster") as address:
        argv = {
            "local pool": harness.augcli_cmd("run", str(config), "--quiet"),
            "dask cluster": harness.augcli_cmd("run", str(config), "--quiet", "--output", str(outs["cluster"]),
                                               "--executor", "dask", "--address", address),
            "dask LocalCluster": harness.augcli_cmd("run", str(config), "--quiet", "--output",
                                                    str(outs["localcluster"]), "--executor", "dask"),
        }
        for folder in outs.values():
            shutil.rmtree(folder, ignore_errors=True)
        for command in argv.values():
            subprocess.run(command, check=True)
        for name in ("cluster", "localcluster"):
            same = (outs[name] / "manifest.jsonl").read_bytes() == (outs["local"] / "manifest.jsonl").read_bytes()
            assert same, f"the {name} run's manifest differs from the local pool's"
        print("  same work: the three manifests are byte-identical")
        contenders = [harness.Contender(label, command, [outs[key]])
                      for (label, command), key in zip(argv.items(), outs, strict=True)]
        times = harness.alternate(contenders, repeats)
    figures = [harness.report(f"{n} x {side}px, 1 copy, {n} outputs", times, dict.fromkeys(argv, n), "outputs",
                              [("dask cluster", "local pool", ">= 0.87 (at most 15% slower)"),
                               ("dask LocalCluster", "local pool", "(starts and closes its cluster)")])]
    for folder in outs.values():
        shutil.rmtree(folder, ignore_errors=True)
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
