"""Image throughput of augcli against hand-written baselines, measured in the same run.

    pip install -e '.[samples]'        # scikit-image: the real photos the inputs are cut from
    python benchmarks/images.py [--n 1000] [--repeats 3] [--workers N]

Builds N 512x512 JPEGs from scikit-image's photographs, then measures (best of --repeats):
  codec floor    read + decode + encode + write only, joblib over all workers
  hand loop      cv2 + albumentations (flip, rotate, brightness/contrast), joblib, 1 copy,
                 written as a user would: plain imread/imwrite, default process settings
  augcli         the same pipeline through augcli.run (manifest, hashes, atomic writes), 1 copy
  hand loop x4   4 copies, decoding the source again for each copy
  augcli x4      4 copies (augcli decodes each source once)
and the wall time of `augcli --help`. Prints the figures and the ratios the targets are about.

Each measurement runs in a fresh Python process (so no contender inherits another's warm
workers or allocator settings), which first warms up its workers on a small set and then
times the full set. Contenders run round-robin, one pass each per repeat, so drift in the
machine's speed affects all alike. Scratch files go to /dev/shm when it exists (--scratch to
change): on a disk, file-creation times swing several-fold between identical runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A
import cv2
import numpy as np
from joblib import Parallel, delayed

import augcli
from augcli.runner import _prepare_worker_process
from augcli.seeding import item_seed

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"]
SIDE = 512
STEPS = [
    {"HorizontalFlip": {"p": 0.5}},
    {"Rotate": {"limit": 15, "p": 0.5}},
    {"RandomBrightnessContrast": {"p": 0.5}},
]


def make_inputs(root: Path, n: int) -> list[Path]:
    import skimage.data

    rng = np.random.default_rng(0)
    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        tile = cv2.resize(photo[y : y + side, x : x + side], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        path = root / "train" / f"class_{i % 10}" / f"img_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def _hand_pipeline() -> A.Compose:
    return A.Compose([A.HorizontalFlip(p=0.5), A.Rotate(limit=15, p=0.5), A.RandomBrightnessContrast(p=0.5)])


def _codec_chunk(paths: list[Path], out: Path) -> int:
    """The floor: decode + encode only, with the same process tuning augcli's workers get."""
    _prepare_worker_process()
    for p in paths:
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        cv2.imwrite(str(out / p.name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return len(paths)


def _hand_chunk(paths: list[Path], out: Path, copies: int, root: Path) -> int:
    """The loop a careful user writes. It draws augcli's per-output seeds, so both do the same work."""
    cv2.setNumThreads(0)
    pipeline = _hand_pipeline()
    for p in paths:
        relpath = p.relative_to(root).as_posix()
        for k in range(copies):
            image = cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            seed = item_seed(0, relpath, k)
            pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
            augmented = pipeline(image=image)["image"]
            cv2.imwrite(str(out / relpath.replace(".jpg", f"__aug{k}.jpg")), cv2.cvtColor(augmented, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
    return len(paths) * copies


def _chunks(paths: list[Path], workers: int) -> list[list[Path]]:
    size = max(1, min(32, len(paths) // (workers * 8)))
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def run_joblib(func, paths: list[Path], workers: int, out: Path, *args) -> int:
    for folder in {p.parent.name for p in paths}:
        (out / "train" / folder).mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    jobs = (delayed(func)(chunk, out, *args) for chunk in _chunks(paths, workers))
    return sum(Parallel(n_jobs=workers, backend="loky", max_nbytes=None)(jobs))


def run_augcli(data: Path, out: Path, workers: int, copies: int) -> int:
    config = {"input": str(data), "output": str(out), "seed": 0, "copies": copies, "keep_originals": False,
              "workers": workers, "image": {"pipeline": STEPS}}
    result = augcli.run(config)
    assert result.exit_code == 0, result.errors
    return result.outputs_written


def check_same_work(data: Path, paths: list[Path], workers: int, scratch: Path) -> None:
    """The hand loop and augcli must write the same bytes, or the comparison is not like for like."""
    sample = paths[: workers * 8]
    hand, ours = scratch / "check-hand", scratch / "check-augcli"
    run_joblib(_hand_chunk, sample, workers, hand, 2, data)
    subset = scratch / "check-data"
    for p in sample:
        (subset / p.relative_to(data)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, subset / p.relative_to(data))
    run_augcli(subset, ours, workers, 2)
    written = sorted(hand.rglob("*.jpg"))
    same = [f for f in written if f.read_bytes() == (ours / f.relative_to(hand)).read_bytes()]
    assert written and len(same) == len(written), f"{len(written) - len(same)} outputs differ"
    for folder in (hand, ours, subset):
        shutil.rmtree(folder)


CONTENDERS = {  # name -> (function, copies)
    "codec floor": ("codec", 1),
    "hand loop": ("hand", 1),
    "augcli": ("augcli", 1),
    "hand loop x4": ("hand", 4),
    "augcli x4": ("augcli", 4),
}


def contender_rate(kind: str, data: Path, warm: Path, out: Path, workers: int, copies: int) -> dict:
    """Run inside a fresh process: warm up on ``warm``, then measure outputs/s on ``data``.

    Also reports this (main) process's peak RSS after the small warm-up set and after the full
    set: augcli keeps no decoded image in it, so the two should be close whatever N is.
    """
    def once(source: Path, target: Path) -> int:
        if kind == "augcli":
            return run_augcli(source, target, workers, copies)
        paths = sorted(source.rglob("*.jpg"))
        if kind == "codec":
            return run_joblib(_codec_chunk, paths, workers, target)
        return run_joblib(_hand_chunk, paths, workers, target, copies, source)

    once(warm, out.with_name(out.name + "-warmup"))
    rss_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    n = once(data, out)
    rate = n / (time.perf_counter() - start)
    rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rate": rate, "rss_warm_mb": rss_warm, "rss_full_mb": rss_full}


def measure_round_robin(data: Path, warm: Path, scratch: Path, workers: int, repeats: int) -> dict[str, float]:
    """Best outputs/s of each contender over ``repeats`` passes, each pass a fresh process."""
    best = dict.fromkeys(CONTENDERS, 0.0)
    rss: dict[str, dict] = {}
    for r in range(repeats):
        for label, (kind, copies) in CONTENDERS.items():
            out = scratch / f"{kind}{copies}-{r}"
            cmd = [sys.executable, __file__, "--contender", kind, "--copies", str(copies), "--data", str(data),
                   "--warm", str(warm), "--out", str(out), "--workers", str(workers)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            best[label] = max(best[label], figures["rate"])
            rss[label] = figures
            for folder in scratch.glob(f"{out.name}*"):
                shutil.rmtree(folder)
    for label, rate in best.items():
        print(f"  {label:<14} {rate:8.1f} outputs/s   main-process peak RSS {rss[label]['rss_warm_mb']:.0f} MB "
              f"after the warm-up set, {rss[label]['rss_full_mb']:.0f} MB after the full set")
    return best


def help_seconds(repeats: int = 5) -> float:
    exe = shutil.which("augcli") or sys.executable
    cmd = [exe, "--help"] if exe.endswith("augcli") else [exe, "-m", "augcli", "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--scratch", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    # internal: one measurement in this (fresh) process
    parser.add_argument("--contender", choices=["codec", "hand", "augcli"], help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender_rate(args.contender, args.data, args.warm, args.out, args.workers, args.copies)))
        return

    with tempfile.TemporaryDirectory(prefix="augcli-bench-", dir=args.scratch) as tmp:
        scratch = Path(tmp)
        data, warm = scratch / "data", scratch / "warm"
        paths = make_inputs(data, args.n)
        for p in paths[: args.workers * 32]:
            (warm / p.relative_to(data)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, warm / p.relative_to(data))
        w = args.workers
        print(f"{args.n} JPEGs {SIDE}x{SIDE}, {w} workers, scratch in {scratch}, best of {args.repeats}")
        check_same_work(data, paths, w, scratch)
        floor, hand1, aug1, hand4, aug4 = measure_round_robin(data, warm, scratch, w, args.repeats).values()

    help_s = help_seconds()
    print(f"  augcli --help  {help_s:8.3f} s")
    print("ratios (target):")
    print(f"  augcli / hand loop, 1 copy        {aug1 / hand1:5.2f}x  (>= 0.95)")
    print(f"  augcli / codec floor, 1 copy      {aug1 / floor:5.2f}x  (>= 0.80)")
    print(f"  augcli x4 / hand loop x4          {aug4 / hand4:5.2f}x  (>= 1.50)")
    print(f"  augcli --help                     {help_s:5.3f} s  (< 0.3)")


if __name__ == "__main__":
    main()
