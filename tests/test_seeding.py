import random

import numpy as np

from augcli.seeding import item_seed, seed_globals


def test_item_seed_depends_on_seed_path_and_copy_only():
    base = item_seed(42, "train/cat/001.jpg", 0)
    assert base == item_seed(42, "train/cat/001.jpg", 0)
    others = {item_seed(43, "train/cat/001.jpg", 0), item_seed(42, "train/cat/002.jpg", 0),
              item_seed(42, "train/cat/001.jpg", 1)}
    assert base not in others and len(others) == 3
    assert 0 <= base < 2**32


def test_item_seed_is_pinned():
    # SeedSequence output is stable across numpy versions; a change here breaks every manifest.
    assert item_seed(42, "train/cat/cat_000.jpg", 0) == 2805513081


def test_seed_globals_makes_global_draws_repeat():
    seed_globals(7)
    first = (random.random(), np.random.random())
    seed_globals(7)
    assert (random.random(), np.random.random()) == first
