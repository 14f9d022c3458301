"""Is `augcli run` on video as fast as the PyAV + albumentations script a user would write, and how close to
the codec floor? Does its memory stay flat as a clip grows? Whole commands, alternating.

    python benchmarks/video.py [--clips 12] [--seconds 4] [--repeats 5] [--quick]
    python benchmarks/video.py --memory [--long 60]

Inputs: pans across a panorama of sample_data/'s photos (scikit-image's astronaut, coffee, chelsea,
rocket and a cat), with a 440 Hz tone as their AAC track, made here with PyAV: H.264/AAC MP4
(and a third of them VP9/Opus WebM), 640x360 at 24 fps. 2 copies, HorizontalFlip and
RandomBrightnessContrast (p=0.5 each). Contenders, whole commands in fresh processes, taking turns:
  plain loop   benchmarks/baselines/video_loop.py: decode a clip into a list, Compose(images=) per copy,
               encode (CRF 18, the encoder's default threads), copy the audio packets; joblib over clips
  floor        video_loop.py --floor: decode once and encode the copies (augcli's encoder settings),
               audio copied, no augmentation: the least work the outputs need
  augcli run   `augcli run CONFIG --quiet`, default workers, keep_originals off
Targets: augcli >= 1.0x the plain loop, >= 0.8x the floor.

--memory: peak RSS of `augcli run` (1 worker: the process doing the work) on one 1280x720 clip of
15 s and one of --long seconds (60), 2 copies, the same steps plus FrameDrop (audio copied) and, in a
second config, TemporalCrop + SpeedChange (audio decoded, cut and stretched).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import harness
import numpy as np
import yaml

sys.path.insert(0, str(harness.ROOT))
from tests.video_clips import make_clip

PHOTOS = ["detection/coco/images/train/astronaut.jpg", "detection/coco/images/train/coffee.jpg",
          "detection/coco/images/train/chelsea.jpg", "detection/coco/images/val/rocket.jpg",
          "train/cat/cat_000.jpg"]
STEPS = [{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}}]
FPS = 24


def panorama(height: int) -> np.ndarray:
    images = []
    for name in PHOTOS:
        image = cv2.cvtColor(cv2.imread(str(harness.ROOT / "sample_data" / name)), cv2.COLOR_BGR2RGB)
        images.append(cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height)))
    return np.hstack(images)


def pan(wide: np.ndarray, n: int, width: int, offset: int = 0) -> Iterator[np.ndarray]:
    """The frames of a pan, made as they are encoded: this process's peak RSS is inherited by the commands it
    starts (Linux counts the pages a forked child shares), so it never holds a clip's frames."""
    span = wide.shape[1] - width
    for i in range(n):
        yield np.ascontiguousarray(wide[:, (offset + i * span // max(1, n - 1)) % (span + 1):][:, :width])


def make_inputs(root: Path, clips: int, seconds: float) -> Path:
    data = root / f"video-{clips}x{seconds:g}s"
    if (data / "DONE").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    wide = panorama(360)
    for i in range(clips):
        suffix = ".webm" if i % 3 == 2 else ".mp4"
        frames = pan(wide, round(seconds * FPS), 640, offset=i * 97)
        make_clip(data / "train" / f"label_{i % 2}" / f"clip_{i:03d}{suffix}", fps=FPS, size=(640, 360),
                  frames=frames)
    (data / "DONE").write_text("")
    return data


def write_config(path: Path, data: Path, out: Path, steps: list, workers: int | str = "auto") -> Path:
    path.write_text(yaml.safe_dump({"input": str(data), "output": str(out), "seed": 0, "copies": 2,
                                    "keep_originals": False, "workers": workers, "video": {"pipeline": steps}}))
    return path


def speed(args: argparse.Namespace, scratch: Path) -> dict:
    clips, seconds = (6, 2.0) if args.quick else (args.clips, args.seconds)
    repeats = 3 if args.quick else args.repeats
    data = make_inputs(scratch, clips, seconds)
    print(f"{clips} clips of {seconds:g} s, 640x360 at {FPS} fps, 2 copies, {harness.cores()} cores, {repeats} rounds")
    outs = {name: scratch / f"out-{name}" for name in ("plain", "floor", "augcli")}
    config = write_config(scratch / "speed.yaml", data, outs["augcli"], STEPS)
    contenders = [
        harness.Contender("plain loop", harness.baseline_cmd("video_loop.py", str(data), str(outs["plain"])),
                          [outs["plain"]]),
        harness.Contender("floor", harness.baseline_cmd("video_loop.py", str(data), str(outs["floor"]), "--floor"),
                          [outs["floor"]]),
        harness.Contender("augcli run", harness.augcli_cmd("run", str(config), "--quiet"), [outs["augcli"]]),
    ]
    times = harness.alternate(contenders, repeats)
    figures = harness.report(f"{clips} clips x 2 copies", times, {label: 2 * clips for label in times}, "copies",
                             [("augcli run", "plain loop", ">= 1.0"), ("augcli run", "floor", ">= 0.8")])
    for folder in outs.values():
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def memory(args: argparse.Namespace, scratch: Path) -> dict:
    wide = panorama(720)
    clips = {}
    for seconds in (15, args.long):
        data = scratch / f"hd-{seconds}s"
        if not (data / "DONE").is_file():
            shutil.rmtree(data, ignore_errors=True)
            print(f"making a {seconds} s 1280x720 clip ...", file=sys.stderr, flush=True)
            make_clip(data / "clip.mp4", fps=FPS, size=(1280, 720), frames=pan(wide, seconds * FPS, 1280))
            (data / "DONE").write_text("")
        clips[seconds] = data
    variants = {"copied audio": [*STEPS, {"FrameDrop": {"p": 0.05}}],
                "cut+stretched audio": [*STEPS, {"TemporalCrop": {"seconds": 12}},
                                        {"SpeedChange": {"min_rate": 0.8, "max_rate": 1.25}}]}
    figures = {"title": "peak RSS, 1280x720 H.264/AAC, 2 copies, 1 worker", "peak_rss_mb": {}, "seconds": {}}
    print(figures["title"])
    for variant, steps in variants.items():
        for seconds, data in clips.items():
            out = scratch / "out-memory"
            config = write_config(scratch / "memory.yaml", data, out, steps, workers=1)
            label = f"{variant}, {seconds} s clip"
            wall = harness.once(harness.Contender(label, harness.augcli_cmd("run", str(config), "--quiet"), [out]))
            rss = harness.RSS[label][-1]
            figures["peak_rss_mb"][label], figures["seconds"][label] = rss, wall
            print(f"  {label:<36} peak RSS {rss:6.0f} MB   {wall:6.1f} s", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--memory", action="store_true", help="peak RSS on a short and a long 720p clip")
    parser.add_argument("--long", type=int, default=60, help="seconds of the long clip (--memory)")
    harness.add_common_args(parser)
    args = parser.parse_args()
    scratch = harness.scratch_folder(args.scratch, "video")
    same = check_same_work(scratch) if not args.memory else None
    figures = [memory(args, scratch) if args.memory else speed(args, scratch)]
    if same:
        figures[0]["same_work"] = same
    harness.save(args.json, figures)


def check_same_work(scratch: Path) -> str:
    """The plain loop with augcli's seeds and augcli write the same frames (decoded, within codec noise: the
    two convert colours differently) for the same clips, with the same frame counts."""
    data = make_inputs(scratch, 3, 1.0)
    plain, ours = scratch / "check-plain", scratch / "check-augcli"
    for folder in (plain, ours):
        shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(harness.baseline_cmd("video_loop.py", str(data), str(plain), "--seeds", "augcli"), check=True)
    subprocess.run(harness.augcli_cmd("run", str(write_config(scratch / "check.yaml", data, ours, STEPS)),
                                      "--quiet"), check=True)
    from tests.video_clips import read_clip

    written = sorted(p.relative_to(plain) for p in plain.rglob("*__aug*"))
    assert written == sorted(p.relative_to(ours) for p in ours.rglob("*__aug*")) and len(written) == 6
    worst = 0.0
    for name in written:
        a, b = read_clip(plain / name)[0], read_clip(ours / name)[0]
        assert len(a) == len(b), name
        differences = [float(np.abs(x.astype(np.float32) - y).mean()) for x, y in zip(a, b, strict=True)]
        worst = max(worst, statistics.mean(differences))
    assert worst < 3.0, f"the plain loop's frames differ from augcli's by {worst:.2f} on average"
    for folder in (plain, ours):
        shutil.rmtree(folder)
    note = f"same work: {len(written)} outputs, same frame counts, frames within {worst:.2f} (mean abs) of each other"
    print(f"  {note}")
    return note


if __name__ == "__main__":
    main()
