"""Regenerate sample_data/video/ from the photos of sample_data/ with PyAV (no ffmpeg binary needed).

    python scripts/make_sample_video.py

Two-second pans across scikit-image's photos (320x240, 48 frames at 24 fps), with a 440 Hz sine
tone as their audio track, in label folders as an action-recognition set has them (the label is
the direction of the pan):
- train/pan_right/astronaut.mp4, train/pan_left/coffee.mp4: H.264 + AAC in MP4
- train/pan_right/chelsea.webm: VP9 + Opus in WebM
- val/pan_left/rocket.mp4: H.264 + AAC, copied unchanged by a run (the val split)
Together well under 1 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.video_clips import make_clip, pan_frames, photo  # noqa: E402

CLIPS = {  # output -> photo of sample_data/
    "train/pan_right/astronaut.mp4": "detection/coco/images/train/astronaut.jpg",
    "train/pan_left/coffee.mp4": "detection/coco/images/train/coffee.jpg",
    "train/pan_right/chelsea.webm": "detection/coco/images/train/chelsea.jpg",
    "val/pan_left/rocket.mp4": "detection/coco/images/val/rocket.jpg",
}
SIZE, FRAMES, FPS = (320, 240), 48, 24


def main() -> None:
    out = ROOT / "sample_data" / "video"
    for relpath, source in CLIPS.items():
        frames = pan_frames(photo(source), FRAMES, *SIZE)
        frames = frames[::-1] if "/pan_left/" in relpath else frames
        make_clip(out / relpath, fps=FPS, size=SIZE, frames=frames, crf=26)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(CLIPS)} clips to {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
