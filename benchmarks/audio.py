"""Is `augcli run` faster than the audiomentations script a user would write? Whole commands, alternating.

    python benchmarks/audio.py [--sizes small,large] [--repeats 5] [--quick]

Inputs: 4-second 16 kHz PCM_16 clips cut reproducibly from real speech (the espeak-ng utterances
of sample_data/ and ALSA's recorded voices): 200 (small) or 2,000 (large), 1 copy, AddGaussianNoise,
Gain, TimeStretch, Shift (p=0.5 each). Contenders, whole commands in fresh processes, taking turns:
  plain loop   benchmarks/baselines/audio_loop.py: soundfile.read -> Compose -> soundfile.write in
               joblib.Parallel(n_jobs=-1)
  augcli run   `augcli run CONFIG --quiet`, default workers (auto), keep_originals off
Same work: both run on the first 24 clips with augcli's seeds first and every output is compared
byte for byte.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import harness
import numpy as np
import soundfile as sf
import yaml

RATE, SECONDS = 16000, 4.0
STEPS = [
    {"AddGaussianNoise": {"min_amplitude": 0.001, "max_amplitude": 0.015, "p": 0.5}},
    {"Gain": {"min_gain_db": -6, "max_gain_db": 6, "p": 0.5}},
    {"TimeStretch": {"min_rate": 0.8, "max_rate": 1.25, "p": 0.5}},
    {"Shift": {"p": 0.5}},
]
SIZES = {"small": 200, "large": 2_000}


def make_inputs(root: Path, n: int) -> Path:
    import librosa

    data = root / f"audio-{n}"
    if (data / "DONE").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    voices = []
    for path in (sorted(harness.ROOT.glob("sample_data/*/speech/*.wav"))
                 + sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))):
        samples, rate = sf.read(path, dtype="float32")
        if samples.ndim > 1:
            samples = samples.mean(axis=1)
        voices.append(librosa.resample(samples, orig_sr=rate, target_sr=RATE) if rate != RATE else samples)
    speech = np.concatenate(voices)
    length = int(RATE * SECONDS)
    folder = data / "train"
    folder.mkdir(parents=True)
    for i in range(n):
        start = (i * 7919) % (len(speech) - length)
        sf.write(folder / f"clip_{i:05d}.wav", speech[start : start + length], RATE, subtype="PCM_16")
    (data / "DONE").write_text("")
    return data


def write_config(path: Path, data: Path, out: Path) -> Path:
    path.write_text(yaml.safe_dump({"input": str(data), "output": str(out), "seed": 0, "copies": 1,
                                    "keep_originals": False, "audio": {"pipeline": STEPS}}))
    return path


def check_same_work(scratch: Path, data: Path) -> None:
    subset, plain, ours = scratch / "check-data", scratch / "check-plain", scratch / "check-augcli"
    for folder in (subset, plain, ours):
        shutil.rmtree(folder, ignore_errors=True)
    (subset / "train").mkdir(parents=True)
    for source in sorted(data.rglob("*.wav"))[:24]:
        shutil.copyfile(source, subset / "train" / source.name)
    subprocess.run(harness.baseline_cmd("audio_loop.py", str(subset), str(plain), "--seeds", "augcli"), check=True)
    subprocess.run(harness.augcli_cmd("run", str(write_config(scratch / "check.yaml", subset, ours)), "--quiet"),
                   check=True)
    written = sorted(p.relative_to(plain) for p in plain.rglob("*.wav"))
    assert written == sorted(p.relative_to(ours) for p in ours.rglob("*.wav")) and len(written) == 24
    differ = [p for p in written if (plain / p).read_bytes() != (ours / p).read_bytes()]
    assert not differ, f"{len(differ)} of {len(written)} outputs differ, e.g. {differ[0]}"
    print(f"  same work: {len(written)} outputs byte-identical")
    for folder in (subset, plain, ours):
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,large", help=f"comma-separated: {', '.join(SIZES)}")
    harness.add_common_args(parser)
    args = parser.parse_args()
    sizes = ["small"] if args.quick else args.sizes.split(",")
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "audio")
    figures = []
    for size in sizes:
        n = SIZES[size]
        print(f"{size}: {n} clips of {SECONDS:.0f} s at {RATE} Hz, {harness.cores()} cores, {repeats} rounds")
        data = make_inputs(scratch, n)
        check_same_work(scratch, data)
        out_plain, out_augcli = scratch / "out-plain", scratch / "out-augcli"
        config = write_config(scratch / f"{size}.yaml", data, out_augcli)
        contenders = [
            harness.Contender("plain loop", harness.baseline_cmd("audio_loop.py", str(data), str(out_plain)),
                              [out_plain]),
            harness.Contender("augcli run", harness.augcli_cmd("run", str(config), "--quiet"), [out_augcli]),
        ]
        times = harness.alternate(contenders, repeats)
        figures.append(harness.report(f"{size}: {n} clips, 1 copy", times, {label: n for label in times}, "clips",
                                      [("augcli run", "plain loop", ">= 1.0")]))
        for folder in (out_plain, out_augcli):
            shutil.rmtree(folder, ignore_errors=True)
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
