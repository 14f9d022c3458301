"""The plan: output names and seeds, computed lazily where it pays."""

import pickle

from augcli.dataset import AUGMENT, Item
from augcli.plan import Seeds, augmented_name, build_plan, fingerprint
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
