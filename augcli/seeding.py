"""The one place seeds come from, and the one place global random state is touched."""

from __future__ import annotations

import hashlib
import random
from typing import Any

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


class LazyGenerator:
    """``np.random.default_rng(seed)``, made when a step first draws from it: flips and colour steps draw
    only from Python's generator, and seeding a numpy one costs ~5 us an output. The same numbers in the
    same order as the generator itself (albumentations and augcli's steps only call its methods)."""

    __slots__ = ("_made", "_seed")

    def __init__(self, seed: int):
        self._seed, self._made = seed, None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_made", "_seed"):  # copy/pickle probing, an unset slot
            raise AttributeError(name)
        return getattr(self._generator(), name)

    def __reduce__(self) -> tuple:  # copied or pickled with a pipeline: the generator it stands for, as it is
        return self._generator().__reduce__()

    def _generator(self) -> np.random.Generator:
        if self._made is None:
            self._made = np.random.default_rng(self._seed)
        return self._made


def generators(seed: int) -> tuple[Any, random.Random]:
    """The (numpy, Python) generator pair one output's pipeline draws from."""
    return LazyGenerator(seed), random.Random(seed)


class SeedBlocks:
    """``item_seed(seed, name_of(i), k)`` for sample ``i`` < ``count`` (a table's row, a file's line) and
    copy ``k``, computed by ``item_seeds`` in blocks of up to ``block`` samples from the first one asked
    for: one vectorised call per block instead of ~12 us of SeedSequence per sample, never all of a big
    file's at once, and no more samples than there are."""

    def __init__(self, seed: int, name_of: Any, copies: int, count: int, block: int = 4096):
        self.seed, self.name_of, self.copies, self.count, self.block = seed, name_of, copies, count, block
        self._start, self._seeds = 0, []

    def __call__(self, i: int, k: int) -> int:
        if not self._start <= i < self._start + len(self._seeds):
            self._start = i
            names = [self.name_of(j) for j in range(i, min(i + self.block, self.count))]
            self._seeds = item_seeds(self.seed, names, self.copies)
        return self._seeds[i - self._start][k]


def seed_globals(seed: int) -> None:
    """Seed the global generators that libraries without their own seeding draw from.

    Call right before each such library call, in the process that makes it.
    """
    random.seed(seed)
    np.random.seed(seed)


# numpy's SeedSequence constants (numpy/random/bit_generator.pyx): item_seeds replays its mixing.
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4


def item_seeds(seed: int, relpaths: list[str], copies: int) -> list[tuple[int, ...]]:
    """``[tuple(item_seed(seed, p, k) for k in range(copies)) for p in relpaths]``, vectorised.

    The same numbers (tests compare them over many inputs): SeedSequence's hash mixing replayed
    on uint32 arrays, one row per (path, copy), instead of one SeedSequence object per output.
    """
    if seed >= 2**32 or copies >= 2**32 or not relpaths or copies < 1:  # several words per int: the slow path
        return [tuple(item_seed(seed, p, k) for k in range(copies)) for p in relpaths]
    words = np.frombuffer(b"".join(hashlib.sha256(p.encode("utf-8")).digest() for p in relpaths), dtype="<u4")
    n = len(relpaths) * copies
    entropy = np.empty((n, 10), dtype=np.uint32)
    entropy[:, 0] = seed
    entropy[:, 1] = np.tile(np.arange(copies, dtype=np.uint32), len(relpaths))
    entropy[:, 2:] = np.repeat(words.reshape(-1, 8), copies, axis=0)
    with np.errstate(over="ignore"):
        hash_const = np.uint32(_INIT_A)

        def hashmix(value: np.ndarray) -> np.ndarray:
            nonlocal hash_const
            value = value ^ hash_const
            hash_const = hash_const * np.uint32(_MULT_A)
            value = value * hash_const
            return value ^ (value >> np.uint32(16))

        def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
            return result ^ (result >> np.uint32(16))

        pool = [hashmix(entropy[:, i]) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, entropy.shape[1]):
            for dst in range(_POOL):
                pool[dst] = mix(pool[dst], hashmix(entropy[:, src]))
        state = pool[0] ^ np.uint32(_INIT_B)
        state = state * (np.uint32(_INIT_B) * np.uint32(_MULT_B))
        state = state ^ (state >> np.uint32(16))
    flat = state.tolist()
    return [tuple(flat[i : i + copies]) for i in range(0, n, copies)]
