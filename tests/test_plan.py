"""The plan: output names and seeds, computed lazily where it pays."""

import pickle

from augcli.dataset import AUGMENT, Item
from augcli.naming import augmented_name
from augcli.plan import Seeds, build_plan, fingerprint
from augcli.seeding import item_seed
from tests.conftest import write_config


def test_seeds_are_item_seed_computed_when_read():
    seeds = Seeds(42, "cats/001.jpg", 5)
    assert len(seeds) == 5 and list(seeds) == [item_seed(42, "cats/001.jpg", k) for k in range(5)]
    assert seeds[-1] == seeds[4] and seeds[1:3] == (seeds[1], seeds[2])
    assert pickle.loads(pickle.dumps(seeds)) == seeds


def test_build_plan_names_outputs_as_augmented_name(tmp_path):
    import augcli

    (tmp_path / "data").mkdir()
    cfg = augcli.load_config(write_config(tmp_path / "c.yaml", copies=3, image={"pipeline": [], "format": "jpg"}))
    items = [Item("a/b/x.y.png", "image", "b", None, AUGMENT), Item("top.png", "image", None, None, AUGMENT)]
    plan = build_plan(cfg, items)
    for item, task in zip(items, plan.tasks, strict=True):
        assert task.outputs == tuple(augmented_name(item.relpath, k, "jpg") for k in range(3))
    assert fingerprint(plan.tasks[0], cfg, {}) != fingerprint(plan.tasks[1], cfg, {})
    assert fingerprint(plan.tasks[0], cfg, {}) == fingerprint(build_plan(cfg, items).tasks[0], cfg, {})
    assert fingerprint(plan.tasks[0], cfg, {}) != fingerprint(plan.tasks[0], cfg, {"albumentations": "9"})


FINGERPRINTS = """
import json, sys
from augcli.modalities.registry import load_config
from augcli.dataset import discover
from augcli.modalities.registry import library_versions
from augcli.plan import build_plan, fingerprint
out = {}
for data in sys.argv[1:]:
    config = load_config({"input": data, "output": data + "-out", "copies": 2,
                          "image": {"pipeline": [{"HorizontalFlip": {"p": 0.5}}], "mix": {"method": "cutmix"}}})
    for task in build_plan(config, discover(config).items).tasks:
        out[data + ":" + task.key] = fingerprint(task, config, library_versions(config, "image"))
print(json.dumps(out))
"""


def test_fingerprints_of_annotated_and_mixed_tasks_are_the_same_in_any_process_and_follow_the_labels(tmp_path):
    """Resume compares a fingerprint made now with one recorded by an earlier process: it must not
    depend on the process (hash seeds, addresses), and must change when an object's label does."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    sets = Path(__file__).resolve().parent.parent / "sample_data" / "detection"
    data = [shutil.copytree(sets / name, tmp_path / name) for name in ("coco", "yolo", "yolo_seg", "voc", "masks")]

    def fingerprints(hash_seed: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "NO_ALBUMENTATIONS_UPDATE": "1"}
        done = subprocess.run([sys.executable, "-c", FINGERPRINTS, *map(str, data)], env=env, check=True,
                              capture_output=True, text=True)
        return json.loads(done.stdout)

    first, second = fingerprints("1"), fingerprints("2")
    assert first == second and len(first) >= 15
    label = next((tmp_path / "yolo" / "labels" / "train").glob("*.txt"))
    lines = label.read_text().splitlines()
    lines[0] = " ".join([*lines[0].split()[:-1], "0.123456"])  # one object's height
    label.write_text("\n".join(lines) + "\n")
    third = fingerprints("1")
    changed = {key for key in first if third[key] != first[key]}
    stem = label.stem
    # the image itself, and every source whose mixed outputs take it as a partner
    assert any(key.endswith(f"/{stem}.jpg") for key in changed)
    assert all(key.startswith(str(tmp_path / "yolo") + ":") for key in changed)


def test_chunks_keep_plan_order_and_end_small_so_workers_finish_together():
    from augcli.plan import chunk_size, chunked

    work = list(range(600))
    chunks = list(chunked(work, chunk_size(len(work), 2), 2))
    assert [i for chunk in chunks for i in chunk] == work
    assert [len(c) for c in chunks[:3]] == [32, 32, 32] and [len(c) for c in chunks[-8:]] == [8] * 8
    assert [len(c) for c in chunked(work, 32, 1)] == [32] * 18 + [24]  # one worker: nothing to balance
