"""workers: auto starts processes only when the job repays their start-up."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augcli import workers
from augcli.dataset import discover
from augcli.modalities.registry import load_config
from augcli.plan import build_plan
from tests.conftest import invoke, write_config

QUICKSTART = Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"


def plan_of(config):
    return build_plan(config, discover(config).items).tasks


def test_quickstart_runs_in_the_main_process():
    """~0.23 s of work: measured no faster on 2 forked workers than in the main process (and loky's
    1.3 s start-up would be slower)."""
    config = load_config(QUICKSTART)
    assert config.workers == "auto"
    assert workers.auto_workers(config.input, plan_of(config), config.copies, cores=2) == 1
    assert workers.auto_workers(config.input, plan_of(config), config.copies, cores=1) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_forked_workers_pay_for_a_smaller_job_than_loky(monkeypatch, tmp_path, dataset):
    config = load_config({"input": str(dataset), "output": str(tmp_path / "out"), "copies": 300,
                          "image": {"pipeline": [{"HorizontalFlip": {}}]}})
    tasks = plan_of(config)
    assert 2 * workers.FORKED_STARTUP_SECONDS < workers.estimated_seconds(config.input, tasks, config.copies) \
        < 2 * workers.SPAWNED_STARTUP_SECONDS
    assert workers.auto_workers(config.input, tasks, config.copies, cores=2) == 2
    monkeypatch.setenv("AUGCLI_WORKERS_START", "loky")
    assert workers.auto_workers(config.input, tasks, config.copies, cores=2) == 1


def test_a_big_job_gets_every_core(tmp_path, dataset):
    config = load_config({"input": str(dataset), "output": str(tmp_path / "out"), "copies": 2000,
                          "image": {"pipeline": [{"HorizontalFlip": {}}]}})
    tasks = plan_of(config)
    assert workers.estimated_seconds(config.input, tasks, config.copies) > 2 * workers.SPAWNED_STARTUP_SECONDS
    assert workers.auto_workers(config.input, tasks, config.copies, cores=2) == 2
    assert workers.auto_workers(config.input, tasks, config.copies, cores=8) == 8


def test_an_explicit_count_is_kept(tmp_path, dataset):
    config = load_config({"input": str(dataset), "output": str(tmp_path / "out"), "workers": 3,
                          "image": {"pipeline": [{"HorizontalFlip": {}}]}})
    assert config.n_workers(plan_of(config)) == 3
    assert config.model_copy(update={"workers": "auto"}).n_workers() == workers.usable_cores()


def test_the_estimate_reads_a_spread_sample_of_sources(tmp_path):
    from types import SimpleNamespace

    (tmp_path / "a.jpg").write_bytes(b"x" * 50_000)
    item = SimpleNamespace(relpath="a.jpg", modality="image")
    tasks = [SimpleNamespace(item=item, original=None, outputs=("o",), seeds=(1,))] * 10_000
    seconds = workers.estimated_seconds(tmp_path, tasks, 1)
    per_output = workers.SECONDS_PER_OUTPUT + 50_000 * workers.SECONDS_PER_BYTE["image"]
    assert abs(seconds - 10_000 * per_output) < 1e-6


def test_the_sample_coco_set_copied_600_times_gets_every_core(tmp_path):
    # An annotated image costs more per output than its bytes say (labels through the pipeline,
    # label files written): 600 of the sample's photos at 2 copies took ~2.7 s in one process.
    from tests.annotations.conftest import copy_sample

    data = copy_sample("coco", tmp_path / "coco")
    cfg = load_config({"input": str(data), "output": str(tmp_path / "out"), "copies": 2,
                       "image": {"pipeline": [{"HorizontalFlip": {}}]}})
    (task,) = [t for t in build_plan(cfg, discover(cfg).items).tasks if t.item.relpath.endswith("coffee.jpg")]
    assert task.item.annotations is not None
    size = (data / task.item.relpath).stat().st_size
    plain = 2 * (workers.SECONDS_PER_OUTPUT + size * workers.SECONDS_PER_BYTE["image"]) \
        + size * workers.SECONDS_PER_PLACED_BYTE  # the original placed beside its copies
    assert workers.estimated_seconds(data, [task], 2) == pytest.approx(plain + 2 * workers.SECONDS_PER_ANNOTATED_OUTPUT)
    assert workers.auto_workers(data, [task] * 600, 2, cores=2) == 2


def test_dry_run_says_how_many_workers_the_run_uses(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {}}]})
    assert "workers: 1 (auto: too little work to repay starting worker processes" in invoke(
        "run", cfg, "--dry-run").output
    assert "workers: 3 (workers: 3)\n" in invoke("run", cfg, "--dry-run", "--workers", "3").output
    assert "workers: 8 (workers: 50; no more than there are sources)" in invoke(
        "run", cfg, "--dry-run", "--workers", "50").output


@pytest.mark.parametrize("start", ["fork", "loky"])
def test_the_command_exits_as_soon_as_the_run_is_recorded_with_either_kind_of_worker(tmp_path, dataset, start):
    """The CLI skips the interpreter's teardown after a run, except where loky's workers need it to stop."""

    config = tmp_path / "c.yaml"
    config.write_text(f"input: {dataset}\noutput: {tmp_path / 'out'}\nworkers: 2\ncopies: 2\n"
                      "image: {pipeline: [{HorizontalFlip: {}}]}\n")
    env = {**os.environ, "AUGCLI_WORKERS_START": start, "NO_ALBUMENTATIONS_UPDATE": "1"}
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "augcli", "run", str(config), "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "complete"  # stdout flushed before the fast exit
    assert time.monotonic() - began < 60  # not waiting for idle loky workers to time out (300 s)


def _square_or_die(chunk: list[int]) -> list[int]:
    if 13 in chunk:
        os._exit(1)  # a worker killed half-way
    return [n * n for n in chunk]


@pytest.mark.skipif(not workers.forks_workers(), reason="forked workers only")
def test_forked_results_come_in_order_and_the_garbage_collector_is_back_after_them():
    import gc

    from augcli.runner import WorkerDied, fan_out

    assert gc.isenabled()
    results = fan_out(_square_or_die, list(range(200, 400)), 2)
    assert next(results) == 200 * 200
    assert not gc.isenabled()  # gathering records: nothing to collect
    assert list(results) == [n * n for n in range(201, 400)]
    assert gc.isenabled()
    with pytest.raises(WorkerDied):
        list(fan_out(_square_or_die, list(range(100)), 2))
    assert gc.isenabled()
    stopped = fan_out(_square_or_die, list(range(200, 400)), 2)
    next(stopped)
    stopped.close()  # the caller stops early (a signal, on_error: fail)
    assert gc.isenabled() and gc.get_freeze_count() > 0  # the records gathered: frozen until the public call ends
    gc.unfreeze()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_and_a_verify_from_python_leave_nothing_frozen_and_collect_as_before(tmp_path, dataset, workers):
    import gc

    from augcli.job import run
    from augcli.verify import verify

    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]}, workers=workers)
    gc.unfreeze()
    assert run(str(cfg)).status == "complete"
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # a notebook's state stays collectable
    assert verify(tmp_path / "out").exit_code == 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # a caller that froze its own objects: they stay frozen, and nothing of ours joins them
    frozen = gc.get_freeze_count()
    assert run(str(cfg), fresh=True).status == "complete" and verify(tmp_path / "out").exit_code == 0
    # (a few of the caller's frozen objects may die meanwhile: freed by their reference counts)
    assert frozen - 100 <= gc.get_freeze_count() <= frozen and gc.isenabled()
    gc.unfreeze()
