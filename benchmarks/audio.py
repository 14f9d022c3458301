"""Audio throughput of augcli against a hand-written joblib loop with the same audiomentations pipeline.

    python benchmarks/audio.py [--n 200] [--repeats 3] [--workers N]

Builds N 4-second 16 kHz PCM_16 clips from the real speech in sample_data/ (espeak-ng
utterances and ALSA's recorded voices), then measures clips/s and seconds of audio per second,
best of --repeats, each measurement in a fresh process that first warms up its workers:
  hand loop   joblib over all workers: soundfile read, seed the globals, Compose, soundfile write
  augcli      the same pipeline through augcli.run (manifest, hashes, atomic writes)
Pipeline: AddGaussianNoise, Gain, TimeStretch, Shift (p=0.5 each). Prints the ratio (target >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import harness
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
RATE, SECONDS = 16000, 4.0
STEPS = [
    {"AddGaussianNoise": {"min_amplitude": 0.001, "max_amplitude": 0.015, "p": 0.5}},
    {"Gain": {"min_gain_db": -6, "max_gain_db": 6, "p": 0.5}},
    {"TimeStretch": {"min_rate": 0.8, "max_rate": 1.25, "p": 0.5}},
    {"Shift": {"p": 0.5}},
]


def make_inputs(root: Path, n: int) -> None:
    import librosa

    voices = []
    for path in sorted(ROOT.glob("sample_data/*/speech/*.wav")) + sorted(Path("/usr/share/sounds/alsa").glob("*.wav")):
        samples, rate = sf.read(path, dtype="float32")
        voices.append(librosa.resample(samples, orig_sr=rate, target_sr=RATE) if rate != RATE else samples)
    speech = np.concatenate(voices)
    length = int(RATE * SECONDS)
    folder = root / "train"
    folder.mkdir(parents=True)
    for i in range(n):
        start = (i * 7919) % (len(speech) - length)
        sf.write(folder / f"clip_{i:05d}.wav", speech[start : start + length], RATE, subtype="PCM_16")


def _hand_chunk(paths: list[str], out: str) -> int:
    """What a careful user writes: same pipeline, globals seeded per clip with augcli's seeds."""
    import random

    import audiomentations as am

    from augcli.seeding import item_seed

    pipeline = am.Compose([
        am.AddGaussianNoise(min_amplitude=0.001, max_amplitude=0.015, p=0.5),
        am.Gain(min_gain_db=-6, max_gain_db=6, p=0.5),
        am.TimeStretch(min_rate=0.8, max_rate=1.25, p=0.5),
        am.Shift(p=0.5),
    ])
    for path in paths:
        samples, rate = sf.read(path, dtype="float32")
        seed = item_seed(0, "train/" + Path(path).name, 0)
        random.seed(seed)
        np.random.seed(seed)
        augmented = pipeline(samples=samples, sample_rate=rate)
        sf.write(Path(out, Path(path).stem + "__aug0.wav"), np.clip(augmented, -1, 1), rate, subtype="PCM_16")
    return len(paths)


def once(kind: str, source: Path, target: Path, workers: int) -> int:
    if kind == "augcli":
        import augcli

        config = {"input": str(source), "output": str(target), "copies": 1, "keep_originals": False,
                  "workers": workers, "audio": {"pipeline": STEPS}}
        result = augcli.run(config)
        assert result.exit_code == 0, result.errors
        return result.outputs_written
    from joblib import Parallel, delayed

    target.mkdir(parents=True)
    paths = [str(p) for p in sorted(source.rglob("*.wav"))]
    size = max(1, min(32, len(paths) // (workers * 8)))
    jobs = (delayed(_hand_chunk)(paths[i : i + size], str(target)) for i in range(0, len(paths), size))
    return sum(Parallel(n_jobs=workers, backend="loky")(jobs))



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    harness.add_contender_args(parser, ["hand", "augcli"])
    args = parser.parse_args()
    if harness.contender_main(args, lambda kind, source, target: once(kind, source, target, args.workers)):
        return

    scratch_root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="augcli-audio-bench-", dir=scratch_root) as tmp:
        scratch = Path(tmp)
        make_inputs(scratch / "data", args.n)
        make_inputs(scratch / "warm", args.workers * 4)
        print(f"{args.n} clips of {SECONDS:.0f} s at {RATE} Hz, {args.workers} workers, best of {args.repeats}")
        best = harness.round_robin(__file__, {"hand loop": "hand", "augcli": "augcli"}, scratch, args.workers,
                                   args.repeats)
    for label, rate in best.items():
        print(f"  {label:<10} {rate:7.1f} clips/s  {rate * SECONDS:8.1f} s of audio per s")
    print(f"  augcli / hand loop  {best['augcli'] / best['hand loop']:5.2f}x  (>= 0.90)")


if __name__ == "__main__":
    main()
