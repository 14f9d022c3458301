"""The plain script a competent user writes: soundfile -> audiomentations.Compose -> soundfile, in joblib.

    python audio_loop.py INPUT OUTPUT [--copies K] [--jobs -1]

Each clip is read once for all its copies; outputs keep the input's folders, as ``name__augK.wav``
(PCM_16, clipped to [-1, 1]). ``--seeds augcli`` seeds the global generators with augcli's
per-output seeds (only for the benchmark's same-work check; the timed runs leave it out).
"""

import argparse
import os
import random
from pathlib import Path

import audiomentations as am
import numpy as np
import soundfile as sf
from joblib import Parallel, delayed


def augment_clip(src, dst_stem, copies, transform, seeds):
    samples, rate = sf.read(src, dtype="float32")
    os.makedirs(os.path.dirname(dst_stem), exist_ok=True)
    for k in range(copies):
        if seeds is not None:
            random.seed(seeds[k])
            np.random.seed(seeds[k])
        augmented = transform(samples=samples, sample_rate=rate)
        sf.write(f"{dst_stem}__aug{k}.wav", np.clip(augmented, -1, 1), rate, subtype="PCM_16")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--seeds", choices=["none", "augcli"], default="none")
    args = parser.parse_args()
    transform = am.Compose([
        am.AddGaussianNoise(min_amplitude=0.001, max_amplitude=0.015, p=0.5),
        am.Gain(min_gain_db=-6, max_gain_db=6, p=0.5),
        am.TimeStretch(min_rate=0.8, max_rate=1.25, p=0.5),
        am.Shift(p=0.5),
    ])
    sources = sorted(args.input.rglob("*.wav"))
    seeds = {}
    if args.seeds == "augcli":
        from augcli.seeding import item_seed

        seeds = {p: [item_seed(0, p.relative_to(args.input).as_posix(), k) for k in range(args.copies)]
                 for p in sources}
    Parallel(n_jobs=args.jobs)(
        delayed(augment_clip)(str(p), str(args.output / p.relative_to(args.input).with_suffix("")), args.copies,
                              transform, seeds.get(p))
        for p in sources
    )


if __name__ == "__main__":
    main()
