"""augcli's temporal video steps: which source frame each output frame shows, sample then apply.

A step first draws its parameters into a plain dict (``sample``), then maps the copy's timeline
with them (``apply``), so what it did is data the manifest records and ``verify`` replays. The
timeline is the list of source frame indices the output shows, its frame rate, and the stretch of
source time its audio plays (``Timeline``); pixels are never touched here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Timeline:
    """What one output shows: source frame ``frames[j]`` as its frame j, at ``fps``; its audio is the
    source's from ``audio_start`` to ``audio_end`` (seconds) played ``rate`` times as fast."""

    frames: tuple[int, ...]
    fps: Fraction
    audio_start: float
    audio_end: float
    rate: float = 1.0
    dropped: tuple[int, ...] = field(default=())

    @classmethod
    def of_source(cls, n_frames: int, fps: Fraction) -> Timeline:
        return cls(tuple(range(n_frames)), fps, 0.0, n_frames / fps)

    def timing_changed(self, source_duration: float) -> bool:
        """Whether the audio must be cut or stretched (else the source's track is copied as it is)."""
        return self.rate != 1.0 or self.audio_start > 1e-9 or self.audio_end < source_duration - 1e-9


def _check_probability(name: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be a number from 0 to 1, not {p!r}")
    return float(p)


class TemporalStep:
    """A step on the timeline: ``sample(rng, timeline)`` -> params or None (not applied), ``apply``."""

    name = ""
    summary = ""

    @classmethod
    def params_doc(cls) -> dict[str, Any]:
        """The constructor's parameters and defaults, as ``augcli transforms video`` lists them."""
        import inspect

        return {p.name: {"default": list(p.default) if isinstance(p.default, tuple) else p.default}
                for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"}

    def sample(self, rng: Any, timeline: Timeline) -> dict[str, Any] | None:
        raise NotImplementedError

    def apply(self, timeline: Timeline, params: dict[str, Any]) -> Timeline:
        raise NotImplementedError


class TemporalCrop(TemporalStep):
    name = "TemporalCrop"
    summary = "Keep a window of consecutive frames (frames: N, or seconds: S), its start drawn per copy"

    def __init__(self, frames: int | None = None, seconds: float | None = None, p: float = 1.0):
        if (frames is None) == (seconds is None):
            raise ValueError("TemporalCrop takes one of 'frames' (a count) or 'seconds'")
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
            raise ValueError(f"TemporalCrop: frames must be a whole number >= 1, not {frames!r}")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                    or seconds <= 0):
            raise ValueError(f"TemporalCrop: seconds must be a number > 0, not {seconds!r}")
        self.frames, self.seconds, self.p = frames, seconds, _check_probability(self.name, p)

    def sample(self, rng: Any, timeline: Timeline) -> dict[str, Any] | None:
        if rng.random() >= self.p:
            return None
        n = len(timeline.frames)
        length = self.frames if self.frames is not None else max(1, round(self.seconds * timeline.fps))
        length = min(length, n)
        return {"start": int(rng.integers(0, n - length + 1)), "frames": int(length)}

    def apply(self, timeline: Timeline, params: dict[str, Any]) -> Timeline:
        start, length = params["start"], params["frames"]
        # source seconds per output second: the audio window moves with the frames
        span = timeline.audio_end - timeline.audio_start
        per_frame = span / len(timeline.frames) if timeline.frames else 0.0
        audio_start = timeline.audio_start + start * per_frame
        return replace(timeline, frames=timeline.frames[start : start + length], audio_start=audio_start,
                       audio_end=audio_start + length * per_frame,
                       dropped=tuple(d - start for d in timeline.dropped if start <= d < start + length))


class FrameSubsample(TemporalStep):
    name = "FrameSubsample"
    summary = ("Keep every k-th frame, k drawn per copy from stride (a number, or [min, max]); the frame "
               "rate is divided by k, so the duration and the audio stay as they were")

    def __init__(self, stride: int | list[int] | tuple[int, int] = (1, 2), p: float = 1.0):
        low_high = [stride, stride] if isinstance(stride, int) and not isinstance(stride, bool) else stride
        if (not isinstance(low_high, list | tuple) or len(low_high) != 2
                or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in low_high)
                or low_high[0] > low_high[1]):
            raise ValueError(f"FrameSubsample: stride must be a whole number >= 1 or [min, max], not {stride!r}")
        self.low, self.high, self.p = int(low_high[0]), int(low_high[1]), _check_probability(self.name, p)

    def sample(self, rng: Any, timeline: Timeline) -> dict[str, Any] | None:
        if rng.random() >= self.p:
            return None
        return {"stride": int(rng.integers(self.low, self.high + 1))}

    def apply(self, timeline: Timeline, params: dict[str, Any]) -> Timeline:
        k = params["stride"]
        return replace(timeline, frames=timeline.frames[::k], fps=timeline.fps / k,
                       dropped=tuple(d // k for d in timeline.dropped if d % k == 0))


class SpeedChange(TemporalStep):
    name = "SpeedChange"
    summary = ("Play rate times as fast (rate drawn per copy): frames are picked or repeated at the same frame "
               "rate, the audio is time-stretched (librosa) to the same duration")

    def __init__(self, min_rate: float = 0.8, max_rate: float = 1.25, p: float = 1.0):
        for key, value in (("min_rate", min_rate), ("max_rate", max_rate)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.05 <= value <= 20:
                raise ValueError(f"SpeedChange: {key} must be a number from 0.05 to 20, not {value!r}")
        if min_rate > max_rate:
            raise ValueError(f"SpeedChange: min_rate ({min_rate}) is above max_rate ({max_rate})")
        self.min_rate, self.max_rate, self.p = float(min_rate), float(max_rate), _check_probability(self.name, p)

    def sample(self, rng: Any, timeline: Timeline) -> dict[str, Any] | None:
        if rng.random() >= self.p:
            return None
        return {"rate": float(rng.uniform(self.min_rate, self.max_rate))}

    def apply(self, timeline: Timeline, params: dict[str, Any]) -> Timeline:
        rate, n = params["rate"], len(timeline.frames)
        count = max(1, round(n / rate))
        picked = [min(n - 1, math.floor(j * rate + 1e-9)) for j in range(count)]
        return replace(timeline, frames=tuple(timeline.frames[i] for i in picked), rate=timeline.rate * rate,
                       dropped=())


class FrameDrop(TemporalStep):
    name = "FrameDrop"
    summary = ("Drop single frames, each with probability p, showing the previous frame again instead (the "
               "frame count, rate and audio are unchanged); the dropped output frames are recorded")

    def __init__(self, p: float = 0.05):
        self.p = _check_probability(self.name, p)

    def sample(self, rng: Any, timeline: Timeline) -> dict[str, Any] | None:
        n = len(timeline.frames)
        if n < 2 or self.p == 0:
            return None
        dropped = [int(j) + 1 for j in (rng.random(n - 1) < self.p).nonzero()[0]]
        return {"dropped": dropped} if dropped else None  # no frame dropped: the step did nothing

    def apply(self, timeline: Timeline, params: dict[str, Any]) -> Timeline:
        frames = list(timeline.frames)
        for j in params["dropped"]:
            frames[j] = frames[j - 1]
        return replace(timeline, frames=tuple(frames),
                       dropped=tuple(sorted({*timeline.dropped, *params["dropped"]})))


TEMPORAL_STEPS: dict[str, type[TemporalStep]] = {
    cls.name: cls for cls in (TemporalCrop, FrameSubsample, SpeedChange, FrameDrop)}


def plan_timeline(steps: list[TemporalStep], rng: Any, n_frames: int,
                  fps: Fraction) -> tuple[Timeline, list[tuple[str, dict[str, Any]]]]:
    """The copy's timeline and the applied steps with their sampled parameters, in pipeline order."""
    timeline = Timeline.of_source(n_frames, fps)
    applied = []
    for step in steps:
        params = step.sample(rng, timeline)
        if params is not None:
            timeline = step.apply(timeline, params)
            applied.append((step.name, params))
    return timeline, applied
