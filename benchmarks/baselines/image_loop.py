"""The plain script a competent user writes: cv2.imread -> A.Compose -> cv2.imwrite in joblib.Parallel.

    python image_loop.py INPUT OUTPUT [--copies K] [--steps flip-rotate-brightness] [--jobs -1]

Each source is decoded once for all its copies; outputs keep the input's folders, as
``name__augK.jpg``. ``--seeds augcli`` draws each output's seed the way augcli does (only for the
benchmark's same-work check, which compares the bytes; the timed runs leave it out).
"""

import argparse
import os
import random
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from joblib import Parallel, delayed

STEPS = {
    "flip-rotate-brightness": lambda: [A.HorizontalFlip(p=0.5), A.Rotate(limit=15, p=0.5),
                                       A.RandomBrightnessContrast(p=0.5)],
    "flip-brightness": lambda: [A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=0.5)],
}


def augment_file(src, dst_stem, copies, transform, seeds):
    image = cv2.cvtColor(cv2.imread(src), cv2.COLOR_BGR2RGB)
    os.makedirs(os.path.dirname(dst_stem), exist_ok=True)
    for k in range(copies):
        if seeds is not None:
            transform.set_random_state(np.random.default_rng(seeds[k]), random.Random(seeds[k]))
        augmented = transform(image=image)["image"]
        cv2.imwrite(f"{dst_stem}__aug{k}.jpg", cv2.cvtColor(augmented, cv2.COLOR_RGB2BGR))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--steps", choices=STEPS, default="flip-rotate-brightness")
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--seeds", choices=["none", "augcli"], default="none")
    args = parser.parse_args()
    transform = A.Compose(STEPS[args.steps]())
    sources = sorted(args.input.rglob("*.jpg"))
    seeds = {}
    if args.seeds == "augcli":
        from augcli.seeding import item_seed

        seeds = {p: [item_seed(0, p.relative_to(args.input).as_posix(), k) for k in range(args.copies)]
                 for p in sources}
    Parallel(n_jobs=args.jobs)(
        delayed(augment_file)(str(p), str(args.output / p.relative_to(args.input).with_suffix("")), args.copies,
                              transform, seeds.get(p))
        for p in sources
    )


if __name__ == "__main__":
    main()
