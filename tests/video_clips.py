"""Short real clips made with PyAV: a pan across a photo of sample_data/, with a sine-tone track.

Used by the video tests (clips made in tmp_path) and by scripts/make_sample_video.py (sample_data/video/).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TONE_HZ = 440.0
AUDIO_RATE = 48000
#: (video encoder, audio encoder) of each container the tests make
CODECS = {".mp4": ("libx264", "aac"), ".webm": ("libvpx-vp9", "libopus"), ".mkv": ("libx264", "libopus"),
          ".avi": ("mpeg4", None)}
MUXER = {".mp4": "mp4", ".webm": "webm", ".mkv": "matroska", ".avi": "avi"}


def photo(name: str = "detection/coco/images/train/astronaut.jpg") -> np.ndarray:
    """An RGB photo of sample_data/ (scikit-image's astronaut by default)."""
    image = cv2.imread(str(SAMPLE_DATA / name), cv2.IMREAD_COLOR)
    assert image is not None, f"sample_data/{name} is missing"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def pan_frames(image: np.ndarray, n: int, width: int, height: int) -> list[np.ndarray]:
    """``n`` frames of a ``width`` x ``height`` window moving left to right across the photo (scaled to
    the window's height first), so that every frame differs and its order shows."""
    scale = height / image.shape[0]
    scaled = cv2.resize(image, (max(width + n, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    span = scaled.shape[1] - width
    return [np.ascontiguousarray(scaled[:, round(span * i / max(1, n - 1)) :][:, :width]) for i in range(n)]


def make_clip(path: Path, n_frames: int = 24, fps: int = 12, size: tuple[int, int] = (96, 64),
              audio: bool = True, image: np.ndarray | None = None, crf: int = 23,
              video_codec: str | None = None, frames: Iterable[np.ndarray] | None = None) -> list[np.ndarray]:
    """Write a clip (container from the suffix) and return its frames (RGB, as given to the encoder; none
    when ``frames`` is an iterator, which is consumed as the clip is written: a long clip is never held)."""
    import av

    suffix = path.suffix.lower()
    encoder, audio_encoder = CODECS[suffix]
    encoder = video_codec or encoder
    width, height = size
    frames = frames if frames is not None else pan_frames(image if image is not None else photo(), n_frames,
                                                          width, height)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=MUXER[suffix], options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        if encoder == "libx264":
            stream.options = {"crf": str(crf), "preset": "fast", "x264-params": "cpu-independent=1"}
        elif encoder.startswith("libvpx"):
            stream.options = {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "5"}
        astream = None
        if audio and audio_encoder:
            astream = container.add_stream(audio_encoder, rate=AUDIO_RATE, layout="mono")
            astream.bit_rate = 64000
        count = 0
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, count = i, i + 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if astream is not None:
            seconds = count / fps
            t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
            tone = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
            for offset in range(0, tone.size, 4800):
                piece = av.AudioFrame.from_ndarray(tone[None, offset : offset + 4800], format="flt", layout="mono")
                piece.sample_rate, piece.pts, piece.time_base = AUDIO_RATE, offset, Fraction(1, AUDIO_RATE)
                for packet in astream.encode(piece):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return frames if isinstance(frames, list) else []


def read_clip(path: Path) -> tuple[list[np.ndarray], float, np.ndarray | None, int | None]:
    """(RGB frames, frame rate, audio samples (channels, n) or None, audio rate) of a clip."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    audio, rate = None, None
    with av.open(str(path)) as container:
        if container.streams.audio:
            rate = container.streams.audio[0].codec_context.sample_rate
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
            pieces = [f.to_ndarray() for frame in container.decode(audio=0) for f in resampler.resample(frame)]
            audio = np.concatenate(pieces, axis=1) if pieces else np.zeros((1, 0), np.float32)
    return frames, fps, audio, rate
