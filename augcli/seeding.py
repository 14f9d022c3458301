"""The one place seeds come from, and the one place global random state is touched."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def item_seed(seed: int, relpath: str, copy: int) -> int:
    """Seed of one output: a function of (run seed, source path, copy index) only.

    Independent of worker count, task order and machine. The path enters as its SHA-256 so
    that similar names do not give correlated entropy; the result fits in 32 bits because the
    legacy ``numpy.random.seed`` (read by audiomentations and nlpaug) accepts no more.
    """
    digest = hashlib.sha256(relpath.encode("utf-8")).digest()
    path_words = [int(w) for w in np.frombuffer(digest, dtype="<u4")]
    sequence = np.random.SeedSequence([seed, copy, *path_words])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def seed_globals(seed: int) -> None:
    """Seed the global generators that libraries without their own seeding draw from.

    Call right before each such library call, in the process that makes it.
    """
    random.seed(seed)
    np.random.seed(seed)
