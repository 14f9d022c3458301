"""Executors (issue 18 part 2): a dask cluster of real processes (``dask scheduler`` and two ``dask worker``
processes started here on 127.0.0.1, or a LocalCluster) makes the same manifest and the same bytes as the
local pool, for images, a table made in row ranges, audio and a COCO set; a worker killed mid-task has its
chunk run again by another and the run completes to the same bytes; Ctrl-C stops the cluster's chunks;
a scheduler that is not there is one line, exit 2, nothing written."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from augcli.errors import ConfigError
from augcli.modalities.registry import load_config  # config.load_config takes the plug-in lookup
from tests.conftest import SAMPLE_DATA, make_image_folder
from tests.faults import runs
from tests.faults.procs import continue_group, poll, run_until

distributed = pytest.importorskip("distributed", reason="the dask executor's tests need pip install -e '.[test]'")

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
START_SECONDS = 60.0  # a scheduler and its workers are up well within this, even on a loaded machine


# ---------------------------------------------------------------- a cluster of real processes


class Cluster:
    def __init__(self, address: str, scheduler: subprocess.Popen, workers: list[subprocess.Popen]):
        self.address, self.scheduler, self.workers = address, scheduler, workers

    def client(self):
        return distributed.Client(self.address, timeout=START_SECONDS, set_as_default=False)


def _dask(*args: str, logs: Path) -> subprocess.Popen:
    logs.parent.mkdir(parents=True, exist_ok=True)
    with open(logs, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})


LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")  # its HTTP server: 0.0.0.0 otherwise


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2) -> Iterator[Cluster]:
    """``dask scheduler`` and ``n_workers`` ``dask worker --nthreads 1 --no-nanny`` processes on 127.0.0.1,
    each in a session of its own (a worker is one process: killing it loses it); all killed at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", "0", *LOOPBACK_HTTP, "--scheduler-file",
                   str(scheduler_file), logs=folder / "scheduler.log")]
    try:
        assert poll(lambda: scheduler_file.is_file() and scheduler_file.stat().st_size, START_SECONDS), \
            (folder / "scheduler.log").read_text()
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(n_workers):
            procs.append(_dask("worker", address, "--nthreads", "1", "--no-nanny", *LOOPBACK_HTTP, "--host",
                               "127.0.0.1", "--name", f"w{i}", logs=folder / f"worker{i}.log"))
        cluster = Cluster(address, procs[0], procs[1:])
        with contextlib.closing(cluster.client()) as client:
            client.wait_for_workers(n_workers, timeout=START_SECONDS)
        yield cluster
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


# ---------------------------------------------------------------- runs and what they leave


def augcli(tmp_path: Path, *args: str, name: str = "run", timeout: float = 300) -> runs.Run:
    run = runs.start(list(args), tmp_path, tmp_path / "logs" / name)
    try:
        run.wait(timeout)
    finally:
        run.kill_everything()
    return run


def tree(out: Path) -> dict[str, str]:
    """sha256 of every file in an output folder but augcli's bookkeeping (run.json, .augcli/)."""
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in runs.output_files(out)
            if not runs.is_bookkeeping(name) or name == runs.MANIFEST}


def assert_same_run(local: Path, other: Path) -> None:
    assert (other / runs.MANIFEST).read_bytes() == (local / runs.MANIFEST).read_bytes()
    assert tree(other) == tree(local)
    assert not [name for name in runs.output_files(other) if name.endswith(runs.TMP_SUFFIX)]


def table_data(root: Path) -> Path:
    """A 2,500-row CSV (made in two row ranges) of sentences from sample_data's reviews."""
    with open(SAMPLE_DATA / "train" / "reviews.csv", encoding="utf-8", newline="") as f:
        reviews = list(csv.DictReader(f))
    folder = root / "table" / "train"
    folder.mkdir(parents=True)
    with open(folder / "big.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((f"{reviews[i % len(reviews)]['text']} ({i})", reviews[i % len(reviews)]["label"])
                         for i in range(2500))
    config = root / "table.yaml"
    config.write_text(yaml.safe_dump({"input": "table", "output": "out", "seed": 3, "copies": 2,
                                      "text": {"column": "text", "pipeline": [{"RandomWordAug": {"action": "swap"}}]}}))
    return config


CASES = {  # name -> the config that makes it
    "images-text-audio": lambda root: CONFIGS / "quickstart.yaml",
    "table-in-ranges": table_data,
    "coco": lambda root: CONFIGS / "detection_coco.yaml",
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_dask_cluster_makes_the_local_pools_bytes(tmp_path, cluster, case):
    config = CASES[case](tmp_path)
    local = augcli(tmp_path, "run", config, "--output", tmp_path / "local", "--workers", "2", "--quiet", name="local")
    assert local.proc.returncode == 0, local.describe()
    run = augcli(tmp_path, "run", config, "--output", tmp_path / "dask", "--executor", "dask", "--address",
                 cluster.address, "--json", name="dask")
    assert run.proc.returncode == 0, run.describe()
    assert_same_run(tmp_path / "local", tmp_path / "dask")
    executor = json.loads((tmp_path / "dask" / runs.RUN_JSON).read_text())["executor"]
    assert executor == {"name": "dask", "address": cluster.address, "version": distributed.__version__,
                        "started": None, "workers": executor["workers"]} and executor["workers"] in (1, 2)
    assert run.summary()["executor"] == executor
    assert json.loads((tmp_path / "local" / runs.RUN_JSON).read_text())["executor"] == {
        "name": "local", "address": None, "version": None, "started": None, "workers": 2}
    if case == "table-in-ranges":  # the table really was made in ranges, by chunks of their own
        journal = (tmp_path / "dask" / ".augcli" / "journal.jsonl").read_text()
        assert journal.count('"source":"train/big.csv#') == 2
    resumed = augcli(tmp_path, "run", config, "--output", tmp_path / "dask", "--executor", "dask", "--address",
                     cluster.address, "--json", name="resumed")
    counts = resumed.summary()["counts"]
    assert resumed.proc.returncode == 0 and counts["outputs_written"] == 0 and counts["reused"] >= \
        run.summary()["counts"]["outputs_written"]  # every augmented output kept
    assert_same_run(tmp_path / "local", tmp_path / "dask")


def test_a_local_cluster_without_an_address_makes_the_same_bytes(tmp_path):
    local = augcli(tmp_path, "run", CONFIGS / "quickstart.yaml", "--output", tmp_path / "local", "--quiet",
                   name="local")
    assert local.proc.returncode == 0, local.describe()
    (tmp_path / "sample_data").symlink_to(SAMPLE_DATA)  # the quickstart's relative paths, with the executor key
    config = tmp_path / "configs" / "quickstart.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({**yaml.safe_load((CONFIGS / "quickstart.yaml").read_text()),
                                      "executor": {"name": "dask"}}))
    run = augcli(tmp_path, "run", config, "--output", tmp_path / "dask", name="dask")
    assert run.proc.returncode == 0, run.describe()
    assert_same_run(tmp_path / "local", tmp_path / "dask")
    executor = json.loads((tmp_path / "dask" / runs.RUN_JSON).read_text())["executor"]
    assert executor["name"] == "dask" and executor["address"].startswith("tcp://127.0.0.1:")
    assert executor["started"] == "LocalCluster" and executor["workers"] == 2
    assert f"ran on a LocalCluster at {executor['address']}: 2 workers took part" in run.stdout
    assert not run.survivors(), "the LocalCluster's processes outlived the run"


# ---------------------------------------------------------------- faults


def image_data(root: Path, n: int = 160) -> Path:
    make_image_folder(root / "images", {f"train/c{i}": n // 4 for i in range(4)})
    config = root / "images.yaml"
    config.write_text(yaml.safe_dump({"input": "images", "output": "out", "seed": 5, "copies": 3,
                                      "image": {"pipeline": [{"Rotate": {"limit": 20, "p": 1.0}},
                                                             {"GaussNoise": {"p": 0.5}}]}}))
    return config


def mid_task(run_file: Path) -> str | None:
    """The source a worker is making (the first of its last chunk line's without a record after it), or None."""
    if not run_file.is_file():
        return None
    lines = [json.loads(line) for line in run_file.read_text().splitlines() if line.strip()]
    chunks = [i for i, event in enumerate(lines) if "chunk" in event]
    if not chunks:
        return None
    finished = {event["task"]["source"] for event in lines[chunks[-1]:] if "task" in event}
    return next((source for source in lines[chunks[-1]]["chunk"] if source not in finished), None)


def test_a_worker_killed_mid_task_has_its_chunk_run_again_elsewhere_to_the_same_bytes(tmp_path):
    config = image_data(tmp_path)
    local = augcli(tmp_path, "run", config, "--output", tmp_path / "local", "--quiet", name="local")
    assert local.proc.returncode == 0, local.describe()
    out = tmp_path / "dask"
    with dask_cluster(tmp_path / "cluster") as cluster:
        victim = cluster.workers[0]
        run_file = out / ".augcli" / f"run-{socket.gethostname()}-{victim.pid}.jsonl"
        run = runs.start(["run", config, "--output", out, "--executor", "dask", "--address", cluster.address,
                          "--json"], tmp_path, tmp_path / "logs" / "dask")
        try:
            # the victim stopped (SIGSTOP) while it makes a source: then killed, half-way through that source
            source = run_until(victim.pid, reached=lambda: mid_task(run_file),
                               ended=lambda: run.proc.poll() is not None, timeout=240,
                               head_start=lambda: runs.count_outputs(out) >= 60)
            victim.kill()
            victim.wait()
            code = run.wait(240)
        finally:
            run.kill_everything()
        assert code == 0, run.describe()
    assert_same_run(tmp_path / "local", out)
    assert source in {row["source"] for row in runs.read_rows(out / runs.MANIFEST)}  # made again, by the other
    assert not runs.unjournaled(out) and run.summary()["counts"]["failed"] == 0
    # the workers whose records the run used: the victim's finished chunks are lost with it when their results
    # had not been fetched yet (a stopped worker sends nothing), and made again by the other
    assert run.summary()["executor"]["workers"] in (1, 2)


def test_ctrl_c_stops_a_local_clusters_chunks_and_the_run_resumes_to_the_same_bytes(tmp_path):
    config = image_data(tmp_path)
    local = augcli(tmp_path, "run", config, "--output", tmp_path / "local", "--quiet", name="local")
    assert local.proc.returncode == 0, local.describe()
    out = tmp_path / "dask"
    run = runs.start(["run", config, "--output", out, "--executor", "dask"], tmp_path, tmp_path / "logs" / "dask")
    try:
        run_until(run.pid, reached=lambda: runs.count_outputs(out) >= 120, ended=lambda: run.proc.poll() is not None,
                  timeout=240, head_start=lambda: runs.count_outputs(out) >= 60)
        recorded = run.tree()
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the whole process group, the cluster's workers too
        continue_group(run.pid)
        code = run.wait(120)
        left = run.survivors(recorded, timeout=30)
    finally:
        run.kill_everything()
    assert code == 130, run.describe()
    err = run.stderr.strip()
    assert err.startswith("interrupted by SIGINT: ") and err.endswith("run the same command again to resume"), err
    assert "\n" not in err and "Traceback" not in err
    assert not left, f"processes of the run outlived it: {left}"
    assert runs.count_outputs(out) < runs.count_outputs(tmp_path / "local")
    assert not runs.unjournaled(out)
    resumed = augcli(tmp_path, "run", config, "--output", out, "--quiet", name="resumed")
    assert resumed.proc.returncode == 0, resumed.describe()
    assert_same_run(tmp_path / "local", out)


def test_ctrl_c_leaves_no_chunk_running_on_the_cluster(tmp_path, cluster):
    config = image_data(tmp_path)
    out = tmp_path / "dask"
    run = runs.start(["run", config, "--output", out, "--executor", "dask", "--address", cluster.address],
                     tmp_path, tmp_path / "logs" / "dask")
    try:
        run_until(run.pid, reached=lambda: runs.count_outputs(out) >= 60, ended=lambda: run.proc.poll() is not None,
                  timeout=240)
        os.kill(run.pid, signal.SIGINT)
        continue_group(run.pid)
        code = run.wait(120)
    finally:
        run.kill_everything()
    assert code == 130, run.describe()
    with contextlib.closing(cluster.client()) as client:
        assert not any(client.processing().values()), "chunks still run on the cluster after the run stopped"
    assert not runs.unjournaled(out)
    assert not [name for name in runs.output_files(out) if name.startswith(".augcli/stop-")]  # the stop file went


def test_an_unreachable_scheduler_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "3s")  # dask's own setting: tried that long
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = image_data(tmp_path, n=8)
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    run = runs.start(["run", config, "--executor", "dask", "--address", address], tmp_path,
                         tmp_path / "logs" / "bad")
    run.wait(120)
    run.kill_everything()
    err = run.stderr
    assert run.proc.returncode == 2, run.describe()
    assert err.startswith(f"error: cannot reach the dask scheduler at {address} (") and err.count("\n") == 1, err
    assert "check that `dask scheduler` runs there" in err
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------- the config and the options


def test_executor_in_the_config_and_the_options(tmp_path):
    config = image_data(tmp_path, n=4)
    raw = yaml.safe_load(config.read_text())

    def load(executor, overrides=None):
        return load_config({**raw, "executor": executor}, overrides, base_dir=tmp_path).executor

    assert load("dask").model_dump() == {"name": "dask", "address": None}
    assert load({"name": "dask", "address": "tcp://h:1"}, {"executor": {"address": "tcp://h:2"}}).address == "tcp://h:2"
    assert load({"name": "dask", "address": "tcp://h:1"}, {"executor": {"name": "ray"}}).model_dump() == \
        {"name": "ray", "address": None}  # another engine: the config's address was for its own
    assert load_config(raw, None, base_dir=tmp_path).executor.name == "local"
    with pytest.raises(ConfigError, match=r"executor: address is for a cluster: set name to dask or ray"):
        load({"name": "local", "address": "tcp://h:1"})
    with pytest.raises(ConfigError, match=r"executor.name: Input should be 'local', 'dask' or 'ray'"):
        load({"name": "spark"})


def test_dask_not_installed_is_a_config_error_naming_the_extra(tmp_path, monkeypatch):
    from augcli.job import run

    config = image_data(tmp_path, n=4)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r"executor.name: dask is not installed: pip install 'augcli\[dask\]'"):
        run(config, overrides={"executor": {"name": "dask"}})
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- Ray


RAY_SKIP = ("Ray puts even a local instance on the machine's network address, never 127.0.0.1 "
            "(ray._private.services.resolve_ip_for_localhost), and these tests talk to loopback only; "
            "AUGCLI_TEST_RAY=1 runs it where that is allowed")


@pytest.mark.skipif(os.environ.get("AUGCLI_TEST_RAY") != "1", reason=RAY_SKIP)
def test_ray_makes_the_local_pools_bytes_and_leaves_no_process(tmp_path):
    pytest.importorskip("ray", reason="Ray's tests need pip install -e '.[ray]' (a wheel for this Python)")
    local = augcli(tmp_path, "run", CONFIGS / "quickstart.yaml", "--output", tmp_path / "local", "--quiet",
                   name="local")
    assert local.proc.returncode == 0, local.describe()
    run = runs.start(["run", CONFIGS / "quickstart.yaml", "--output", tmp_path / "ray", "--executor", "ray",
                      "--json"], tmp_path, tmp_path / "logs" / "ray")
    try:
        code = run.wait(300)
        left = run.survivors(timeout=30)  # the local Ray instance (raylet, GCS, workers) is shut down
    finally:
        run.kill_everything()
    assert code == 0, run.describe()
    assert not left, f"processes of the run outlived it: {left}"
    assert_same_run(tmp_path / "local", tmp_path / "ray")
    executor = run.summary()["executor"]
    assert executor["name"] == "ray" and executor["started"] == "local Ray instance"
    assert executor["address"] and executor["workers"] in (1, 2)


# ---------------------------------------------------------------- what a worker process does


def test_a_source_that_fails_for_its_own_reason_is_an_error_entry_on_the_cluster_too(tmp_path, cluster):
    config = image_data(tmp_path, n=8)
    (tmp_path / "images" / "train" / "c0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    local = augcli(tmp_path, "run", config, "--output", tmp_path / "local", "--json", name="local")
    run = augcli(tmp_path, "run", config, "--output", tmp_path / "dask", "--executor", "dask", "--address",
                 cluster.address, "--json", name="dask")
    assert local.proc.returncode == run.proc.returncode == 1, run.describe()
    assert run.summary()["errors"] == local.summary()["errors"] and len(run.summary()["errors"]) == 1
    assert run.summary()["errors"][0]["source"] == "train/c0/broken.png"
    assert_same_run(tmp_path / "local", tmp_path / "dask")


def test_a_worker_with_other_library_versions_makes_no_output_and_says_which():
    from augcli.executors.cluster import _version_mismatch

    assert _version_mismatch(dict(_my_image_versions()), ("image",)) is None
    message = _version_mismatch({**_my_image_versions(), "albumentations": "1.4.0"}, ("image",))
    assert message.startswith("has other versions than the main process (albumentations ")
    assert message.endswith(", the run's main process 1.4.0): its outputs would not be the run's; install the same "
                            "versions on every worker")


def _my_image_versions() -> dict[str, str]:
    from augcli.executors.cluster import shaping_versions

    return shaping_versions(["image"])


def test_a_worker_threads_draws_do_not_move_a_tasks_random_numbers():
    """In a cluster worker ``random``'s functions draw from a generator per thread: another thread drawing
    between the seed and the task's draws (an event loop's jittered timers) changes nothing."""
    script = """
import random, sys, threading
from augcli.executors.cluster import _random_per_thread
_random_per_thread()
sys.setswitchinterval(1e-6)  # threads take turns often: without the generator per thread this fails
stop = threading.Event()
def busy():
    while not stop.is_set():
        random.random()
other = threading.Thread(target=busy)
other.start()
random.seed(1234)
drawn = [random.uniform(0, 1) for _ in range(200000)]
stop.set()
other.join()
expected = random.Random(1234)
assert drawn == [expected.uniform(0, 1) for _ in range(200000)], "another thread's draws moved the task's"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
