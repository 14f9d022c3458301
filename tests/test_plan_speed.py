"""The plan's fast paths give exactly what the one seed function and PurePosixPath give."""

import random
from pathlib import PurePosixPath

import pytest

from augcli.naming import augmented_name
from augcli.seeding import item_seed, item_seeds


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31, 2**32 - 1, 2**32, 2**40])
def test_item_seeds_are_item_seed(seed):
    rng = random.Random(seed)
    paths = ["".join(rng.choice("abé/._ 09") for _ in range(rng.randrange(0, 40))) for _ in range(300)]
    paths += ["train/cat/001.jpg", "", "a" * 500]
    for copies in (1, 2, 5):
        assert item_seeds(seed, paths, copies) == [tuple(item_seed(seed, p, k) for k in range(copies)) for p in paths]
    assert item_seeds(seed, [], 3) == []


@pytest.mark.parametrize("relpath", ["a.jpg", "x/y/z.tar.gz", "x/.hidden", "x/noext", "x/y.", "x/..a",
                                     "a/b/c.JPG", "é/ü.png", "x/y.z/w", "."])
@pytest.mark.parametrize("fmt", [None, "png"])
def test_augmented_name_follows_purepath(relpath, fmt):
    path = PurePosixPath(relpath)
    expected = str(path.with_name(f"{path.stem}__aug3{f'.{fmt}' if fmt else path.suffix}")) if path.name else None
    if expected is not None:
        assert augmented_name(relpath, 3, fmt) == expected


def test_prefetched_seeds_in_blocks_are_item_seed():
    from augcli.dataset import AUGMENT, Item
    from augcli.plan import Seeds, Task, prefetch_seeds

    tasks = [Task(Item(f"c/{i}.jpg", "image", "c", None, AUGMENT), None, (), Seeds(7, f"c/{i}.jpg", copies))
             for i, copies in enumerate([1, 3, 1, 2, 3, 1, 1, 3, 0, 2] * 7)]
    prefetch_seeds(tasks, block=5)  # several blocks per (seed, copies) group, a part-filled last one
    for task in tasks:
        assert task.seeds.values == tuple(item_seed(7, task.item.relpath, k) for k in range(task.seeds.count)) \
            or (task.seeds.count == 0 and task.seeds.values is None)


def test_a_fingerprint_is_the_same_with_the_seeds_computed_or_not(tmp_path):
    from augcli.dataset import AUGMENT, Item
    from augcli.plan import Seeds, Task, fingerprint, prefetch_seeds

    def task(copies, seed=7):
        item = Item("c/1.jpg", "image", "c", None, AUGMENT)
        return Task(item, None, ("c/1__aug0.jpg",), Seeds(seed, "c/1.jpg", copies))

    config = type("Config", (), {})()
    before = fingerprint(task(1), config, {}, run="r")
    computed = task(1)
    prefetch_seeds([computed])
    assert computed.seeds.values is not None and fingerprint(computed, config, {}, run="r") == before
    assert len({before, fingerprint(task(2), config, {}, run="r"), fingerprint(task(1, seed=8), config, {}, run="r"),
                fingerprint(task(1), config, {}, run="other")}) == 4  # copies, seed and the run's digest count
