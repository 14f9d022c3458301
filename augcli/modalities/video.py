"""Video clips with PyAV: albumentations on every frame, augcli's temporal steps, the audio kept in sync.

A clip is decoded once for all its copies: its frames stream through one at a time, each copy's
encoder writes as they come (K encoders open at once), so memory does not grow with the clip's
length. A copy draws one set of albumentations parameters, applied to every frame (the pipeline
re-seeded with the copy's seed for each frame: the same draws each time), and a timeline from the
temporal steps (video_steps.py). Outputs keep the source's container, codecs, frame rate (unless
a temporal step changes it), size and pixel format, and are byte-identical run to run and for
any worker count: single-threaded encoders, FFmpeg's ``bitexact`` muxing (no version string, no
random segment UID, no creation time).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, BinaryIO

import numpy as np

from augcli.errors import ConfigError, ItemError, Problem, errors_in
from augcli.manifest import applied_steps
from augcli.modalities import steps as steps_
from augcli.modalities.video_steps import TEMPORAL_STEPS, TemporalStep, Timeline, plan_timeline
from augcli.samples import BACKGROUND, Cell, Sample, pick_samples
from augcli.seeding import generators, item_seed

#: Source video codec -> the encoder that writes the copies, and its default quality (constant rate factor:
#: x264's 18 is near transparent; VP8/VP9's constant-quality scale differs, these are the matching points).
ENCODERS = {"h264": "libx264", "vp9": "libvpx-vp9", "vp8": "libvpx"}
DEFAULT_CRF = {"libx264": 18, "libvpx-vp9": 30, "libvpx": 8}
#: Deterministic encoder settings, with one encoder thread (thread_count 1): x264's default is one per core,
#: and its frame threads (like libvpx's tiles and rows) shape the stream, so the bytes would follow the machine.
#: x264's cpu-independent: without it, 2 of 16 encodes of
#: the same frames in one process gave another stream (its SIMD macroblock-tree code: mbtree=0 was stable
#: too, at a far bigger file); 60 of 60 the same with it, which also makes CPUs of other SIMD levels agree.
ENCODER_OPTIONS = {"libx264": {"preset": "medium", "x264-params": "cpu-independent=1"},
                   "libvpx-vp9": {"deadline": "good", "cpu-used": "4", "row-mt": "0"},
                   "libvpx": {"deadline": "good", "cpu-used": "4"}}
#: Source audio codec -> the encoder that writes a cut or time-stretched track (a track whose timing is
#: unchanged is copied packet for packet, whatever its codec).
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "mp3": "libmp3lame", "flac": "flac",
                  "pcm_s16le": "pcm_s16le", "pcm_s24le": "pcm_s24le", "pcm_f32le": "pcm_f32le"}
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
#: No version string, no random segment UID, no creation time; every packet interleaved in time order.
MUXER_OPTIONS = {"fflags": "+bitexact", "max_interleave_delta": "0"}
TIMING_STEPS = ("TemporalCrop", "SpeedChange")  # the steps that cut or stretch the audio
WORKER_IMPORTS = ("av", "albumentations", "cv2")
_CHUNK = 1 << 20


# ---------------------------------------------------------------- building from config


def step_names() -> list[str]:
    return sorted([*TEMPORAL_STEPS, *_frame_step_names()])


def _frame_step_names() -> list[str]:
    from augcli.annotations.rules import NEEDS
    from augcli.modalities.image_steps import transform_names

    return [name for name in transform_names() if name not in NEEDS]


@dataclass
class Pipeline:
    spatial: Any  # albumentations Compose, or None when no step touches pixels
    temporal: list[TemporalStep]
    changes_timing: bool  # a TemporalCrop or SpeedChange step: the audio may need cutting or stretching


def check_section(section: dict, base: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    _build(section["pipeline"], f"{path}.pipeline", problems)
    bitrate = section.get("bitrate")
    if bitrate is not None and parse_bitrate(bitrate) is None:
        problems.append(Problem(f"{path}.bitrate", f"must be bits per second, e.g. 2000000 or '2M' or '800k', "
                                                   f"not {bitrate!r}"))
    return problems


def resolve_paths(section: Any, base: Any) -> Any:
    """A video section names no resource files: it is used as validated."""
    return section


def parse_bitrate(value: Any) -> int | None:
    """``2000000``, ``'2M'``, ``'800k'`` -> bits per second; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 1000 else None
    if isinstance(value, str):
        text, scale = value.strip(), 1
        if text[-1:].lower() in ("k", "m"):
            text, scale = text[:-1], 1000 if value.strip()[-1].lower() == "k" else 1_000_000
        try:
            bits = round(float(text) * scale)
        except ValueError:
            return None
        return bits if bits >= 1000 else None
    return None


def _build(steps: Any, path: str, problems: list[Problem]) -> Pipeline:
    from augcli.modalities.image_steps import build_step

    known, hints = step_names(), _hints()
    spatial: list = []
    temporal: list[TemporalStep] = []
    if not isinstance(steps, list):
        problems.append(Problem(path, "must be a list of steps, e.g. [{HorizontalFlip: {p: 0.5}}, "
                                      "{TemporalCrop: {frames: 32}}]"))
        return Pipeline(None, [], False)
    for i, step in enumerate(steps):
        where = f"{path}[{i}]"
        parsed = steps_.parse_step(step, where, problems, modality="video", kind="step", known=known,
                                   example="- TemporalCrop: {frames: 32}", hints=hints)
        if parsed is None:
            continue
        name, params = parsed
        if name in TEMPORAL_STEPS:
            cls = TEMPORAL_STEPS[name]
            if steps_.known_params(name, params, steps_.signature_params(cls), f"{where}.{name}", problems):
                try:
                    temporal.append(cls(**params))
                except ValueError as exc:
                    problems.append(Problem(f"{where}.{name}", str(exc)))
            continue
        built = build_step({name: params}, where, problems)
        if built is not None:
            spatial.append(built)
    compose = None
    if spatial:
        import albumentations as A

        compose = A.Compose(spatial, p=1.0, save_applied_params=True)
    return Pipeline(compose, temporal, any(s.name in TIMING_STEPS for s in temporal))


def _hints() -> dict[str, str]:
    from augcli.annotations.rules import NEEDS, UNSUPPORTED

    hints = {name: f"{name} needs {why}, which video clips do not have" for name, why in NEEDS.items()}
    hints.update({name: f"augcli cannot run {name}: {why}" for name, why in UNSUPPORTED.items()})
    hints["Compose"] = "use 'Sequential' to group steps inside a pipeline"
    return hints


@lru_cache(maxsize=8)
def _cached_pipeline(steps_json: str) -> Pipeline:
    problems: list[Problem] = []
    pipeline = _build(json.loads(steps_json), "video.pipeline", problems)
    if errors_in(problems):  # a library's warnings are said by validate, not here
        raise ConfigError(errors_in(problems))
    return pipeline


def pipeline_for(section: Any) -> Pipeline:
    """The section's pipeline, built once per process (workers reuse it for every clip)."""
    return _cached_pipeline(json.dumps(section.pipeline, sort_keys=True, default=str))


# ---------------------------------------------------------------- reading


@dataclass
class AudioTrack:
    codec: str
    rate: int
    layout: str
    bit_rate: int
    packets: list[tuple[bytes, int | None, int | None, int, bool]]  # (data, pts, dts, duration, keyframe)
    time_base: Fraction
    samples: np.ndarray | None = None  # (channels, n) float32, decoded only when a copy's timing may change


@dataclass
class Clip:
    """What pass 1 learns of a source: enough to plan every copy's timeline before decoding a frame."""

    path: str
    muxer: str
    codec: str
    n_frames: int
    fps: Fraction
    width: int
    height: int
    pix_fmt: str
    audio: AudioTrack | None = None
    audio_dropped: bool = False  # it has an audio track, left out (video.drop_audio)

    @property
    def duration(self) -> float:
        return float(self.n_frames / self.fps)


def _cannot_read(exc: Exception) -> ItemError:
    reason = getattr(exc, "strerror", None) or str(exc)  # without the file's path: the error entry names it
    return ItemError(f"cannot read the file as a video (FFmpeg: {reason}): it is corrupt, truncated or not a video; "
                     "fix it, remove it or exclude it")


def probe(path: str, pipeline: Pipeline, section: Any) -> Clip:
    """Pass 1: demux the clip (no video decoding) to count its frames and keep its audio packets; decode the
    audio only when a copy may cut or stretch it. ItemError for a clip augcli cannot process."""
    import av

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MUXERS:
        raise ItemError(f"augcli cannot write {suffix or 'suffix-less'} video files (it writes "
                        f"{', '.join(sorted(MUXERS))}); exclude it")
    try:
        container = av.open(path)
    except av.FFmpegError as exc:
        raise _cannot_read(exc) from None
    with container:
        if not container.streams.video:
            raise ItemError("the file has no video stream; exclude it (audio files belong in an 'audio' section)")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in ENCODERS:
            raise ItemError(f"its video codec is {codec}, which augcli cannot write back (it writes "
                            f"{', '.join(sorted(ENCODERS))}); convert it or exclude it")
        fps = stream.average_rate or stream.guessed_rate
        if not fps:
            raise ItemError("the video stream has no frame rate; fix the file or exclude it")
        audio_stream = container.streams.audio[0] if container.streams.audio and not section.drop_audio else None
        track = None
        if audio_stream is not None:
            ctx = audio_stream.codec_context
            track = AudioTrack(ctx.name, ctx.sample_rate, ctx.layout.name, ctx.bit_rate or 0, [],
                               Fraction(audio_stream.time_base))
        decode_audio = track is not None and pipeline.changes_timing
        if decode_audio and track.codec not in AUDIO_ENCODERS:
            raise ItemError(f"its audio codec is {track.codec}, which augcli cannot write back after cutting or "
                            f"stretching (it writes {', '.join(sorted(AUDIO_ENCODERS))}); set video.drop_audio, "
                            "convert it or exclude it")
        pieces: list[np.ndarray] = []
        resampler = av.AudioResampler(format="fltp", layout=track.layout, rate=track.rate) if decode_audio else None
        n_frames, end = 0, 0.0  # the video's packets; where the last packet of any stream ends (seconds)
        try:
            for packet in container.demux():  # every stream: a truncated file ends before its header says
                if packet.size and packet.pts is not None and packet.time_base:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                if packet.stream is stream:
                    n_frames += packet.size > 0
                    continue
                if packet.stream is not audio_stream:
                    continue
                if packet.size:
                    track.packets.append((bytes(packet), packet.pts, packet.dts, packet.duration or 0,
                                          packet.is_keyframe))
                if resampler is not None:
                    for frame in packet.decode():
                        pieces += [f.to_ndarray() for f in resampler.resample(frame)]
            if resampler is not None:
                pieces += [f.to_ndarray() for f in resampler.resample(None)]
        except av.FFmpegError as exc:
            raise _cannot_read(exc) from None
        if n_frames == 0:
            raise ItemError("the video stream holds no frames; fix the file or exclude it")
        if stream.frames and n_frames < stream.frames:
            raise ItemError(f"the file is truncated: its index lists {stream.frames} frames, the file holds "
                            f"{n_frames}; fix it, remove it or exclude it")
        said = ((container.start_time or 0) + (container.duration or 0)) / 1e6
        if container.duration and end < said - max(0.1, 2 / float(fps)):
            raise ItemError(f"the file is truncated: its header says it lasts {said:.2f} s, its data ends at "
                            f"{end:.2f} s; fix it, remove it or exclude it")
        if decode_audio:
            track.samples = (np.concatenate(pieces, axis=1) if pieces
                             else np.zeros((1, 0), np.float32)).astype(np.float32, copy=False)
        return Clip(path, MUXERS[suffix], codec, n_frames, Fraction(fps), stream.codec_context.width,
                    stream.codec_context.height, stream.codec_context.pix_fmt or "yuv420p", track,
                    bool(container.streams.audio) and section.drop_audio)


# ---------------------------------------------------------------- writing


@dataclass
class Copy:
    """One output being written: its timeline, its encoder (opened at its first frame), what it applied."""

    seed: int
    timeline: Timeline
    applied_temporal: list[tuple[str, dict]]
    file: BinaryIO = field(default_factory=lambda: tempfile.TemporaryFile())  # noqa: SIM115 (closed by caller)
    container: Any = None
    stream: Any = None
    applied_spatial: list | None = None  # None until the first frame
    next_frame: int = 0  # the next output frame to encode
    is_source: bool = False  # nothing applied: the output is the source's bytes
    audio: str | None = None  # copied | cut | stretched | cut, stretched | dropped | None (no track)
    size: tuple[int, int] = (0, 0)

    @property
    def applied(self) -> list[tuple[str, dict]]:
        return [*self.applied_temporal, *(self.applied_spatial or [])]


def temporal_rng(seed: int) -> np.random.Generator:
    """The temporal steps' generator: a stream of its own, apart from albumentations' draws with the same seed."""
    return np.random.default_rng([seed, 0x7E4D])


def plan_copies(pipeline: Pipeline, clip: Clip, seeds: list[int]) -> list[Copy]:
    copies = []
    for seed in seeds:
        timeline, applied = plan_timeline(pipeline.temporal, temporal_rng(seed), clip.n_frames, clip.fps)
        copies.append(Copy(seed, timeline, applied))
    return copies


def render(clip: Clip, pipeline: Pipeline, copies: list[Copy], section: Any) -> None:
    """Pass 2: decode the clip once and write every copy as its frames come (each to its temporary file)."""
    import av

    try:
        container = av.open(clip.path)
    except av.FFmpegError as exc:
        raise _cannot_read(exc) from None
    with container:
        stream = container.streams.video[0]
        template = container.streams.audio[0] if clip.audio is not None else None
        start = 0  # the frames decoded
        try:
            for frame in container.decode(stream):
                _write_frame(clip, pipeline, copies, section, template, start, _to_rgb(frame))
                start += 1
        except av.FFmpegError as exc:
            raise _cannot_read(exc) from None
        if start < clip.n_frames:
            raise ItemError(f"the file is truncated or damaged: {start} of its {clip.n_frames} frames decode; "
                            "fix it, remove it or exclude it")
    for copy in copies:
        if copy.container is not None:
            for packet in copy.stream.encode(None):
                copy.container.mux(packet)
            copy.container.close()


def _write_frame(clip: Clip, pipeline: Pipeline, copies: list[Copy], section: Any, template: Any, index: int,
                 rgb: np.ndarray) -> None:
    """Source frame ``index``: each copy's output frames that show it (none, one, or several in a row)."""
    for copy in copies:
        frames, first = copy.timeline.frames, copy.next_frame
        last = first
        while last < len(frames) and frames[last] == index:
            last += 1
        if last == first or copy.is_source:
            continue
        augmented = _augment(pipeline, copy, rgb)
        if copy.container is None:
            if not copy.applied and not clip.audio_dropped:  # no step applied: the output is the source itself
                copy.is_source = True
                copy.audio = "copied" if clip.audio is not None else None
                continue
            _open_output(clip, copy, section, template, augmented)
        video_frame = _to_frame(augmented, copy.stream)
        for j in range(first, last):  # a frame shown again (FrameDrop, a slowed copy) is encoded again
            video_frame.pts = j
            for packet in copy.stream.encode(video_frame):
                copy.container.mux(packet)
        copy.next_frame = last


def _to_rgb(frame: Any) -> np.ndarray:
    """A decoded frame as RGB: yuv420p (most clips) through OpenCV's fixed-point BT.601 conversion, the same
    on every CPU, as ``_to_frame`` converts back; other formats through swscale."""
    if frame.format.name == "yuv420p" and not (frame.width % 2 or frame.height % 2):
        import cv2

        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def _augment(pipeline: Pipeline, copy: Copy, frame: np.ndarray) -> np.ndarray:
    """The copy's albumentations draw on this frame: re-seeded with its seed for every frame, so each frame
    gets the same parameters (albumentations samples from the generators, in the same order).

    Measured against albumentations' own ``images=`` target (one call on a stack of frames): the same
    pixels, and less CPU replayed frame by frame (64 720p frames through flip + brightness/contrast 0.11 s
    vs 0.36 s in batches of 4 or 16; with rotate + HSV too 1.05 s vs 1.11-1.17 s), with no stack to hold.
    """
    if pipeline.spatial is None:
        copy.applied_spatial = []
        return frame
    pipeline.spatial.set_random_state(*generators(copy.seed))
    result = pipeline.spatial(image=frame)
    if copy.applied_spatial is None:
        copy.applied_spatial = list(result["applied_transforms"])
    return result["image"]


def _to_frame(array: np.ndarray, stream: Any) -> Any:
    import av
    import cv2

    if array.shape[1] != stream.width or array.shape[0] != stream.height:
        raise ItemError(f"the pipeline made frames of different sizes ({array.shape[1]}x{array.shape[0]} after "
                        f"{stream.width}x{stream.height}); a video needs one size for every frame")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array * 255.0 if array.dtype.kind == "f" else array), 0, 255).astype(np.uint8)
    if stream.pix_fmt == "yuv420p" and not (array.shape[0] % 2 or array.shape[1] % 2):
        # OpenCV's fixed-point BT.601 conversion (the same bytes on every CPU); swscale's SIMD paths need not be
        return av.VideoFrame.from_ndarray(cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2YUV_I420),
                                          format="yuv420p")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")


def _open_output(clip: Clip, copy: Copy, section: Any, template: Any, first: np.ndarray) -> None:
    import av

    height, width = first.shape[:2]
    encoder = ENCODERS[clip.codec]
    if clip.pix_fmt.startswith(("yuv420", "yuvj420", "nv12")) and (width % 2 or height % 2):
        raise ItemError(f"the pipeline made {width}x{height} frames; {clip.pix_fmt} video needs an even width and "
                        "height: crop or resize to even sizes")
    copy.size = (width, height)
    container = av.open(copy.file, "w", format=clip.muxer, options=dict(MUXER_OPTIONS))
    stream = container.add_stream(encoder, rate=copy.timeline.fps)
    stream.width, stream.height = width, height
    supported = {f.name for f in (stream.codec.video_formats or [])}
    stream.pix_fmt = clip.pix_fmt if clip.pix_fmt in supported else "yuv420p"
    stream.codec_context.time_base = 1 / copy.timeline.fps
    stream.codec_context.thread_count = 1  # deterministic bytes on any machine (see ENCODER_OPTIONS)
    options = dict(ENCODER_OPTIONS[encoder])
    bitrate = parse_bitrate(section.bitrate) if section.bitrate is not None else None
    if bitrate:
        stream.bit_rate = bitrate
    else:
        options["crf"] = str(section.crf if section.crf is not None else DEFAULT_CRF[encoder])
        if encoder != "libx264":
            options["b"] = "0"  # libvpx: constant quality, no bitrate cap
    stream.options = options
    copy.container, copy.stream = container, stream
    if clip.audio is not None:
        _write_audio(clip, copy, container, template)
    elif clip.audio_dropped:
        copy.audio = "dropped"


def _write_audio(clip: Clip, copy: Copy, container: Any, template: Any) -> None:
    """The copy's whole audio track, muxed up front: the muxer holds the (small, compressed) packets and
    interleaves them with the video as it comes (``max_interleave_delta`` 0)."""
    import av

    track, timeline = clip.audio, copy.timeline
    if not timeline.timing_changed(clip.duration):
        out = container.add_stream_from_template(template)
        for data, pts, dts, duration, keyframe in track.packets:
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.duration = pts, dts, duration
            packet.time_base = track.time_base
            packet.is_keyframe = keyframe
            packet.stream = out
            container.mux(packet)
        copy.audio = "copied"
        return
    samples = track.samples[:, round(timeline.audio_start * track.rate) : round(timeline.audio_end * track.rate)]
    changes = []
    if timeline.audio_start > 1e-9 or timeline.audio_end < clip.duration - 1e-9:
        changes.append("cut")
    if timeline.rate != 1.0 and samples.shape[1]:
        import librosa

        samples = librosa.effects.time_stretch(np.ascontiguousarray(samples), rate=timeline.rate).astype(np.float32)
        changes.append("stretched")
    copy.audio = ", ".join(changes)
    out = container.add_stream(AUDIO_ENCODERS[track.codec], rate=track.rate, layout=track.layout)
    if track.bit_rate:
        out.bit_rate = track.bit_rate
    out.codec_context.thread_count = 1
    step = 4096
    for offset in range(0, samples.shape[1], step):
        piece = np.ascontiguousarray(samples[:, offset : offset + step])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=track.layout)
        frame.sample_rate, frame.pts = track.rate, offset
        frame.time_base = Fraction(1, track.rate)
        for packet in out.encode(frame):
            container.mux(packet)
    for packet in out.encode(None):
        container.mux(packet)


def _chunks(file: BinaryIO, digest: Any) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(_CHUNK):
        digest.update(chunk)
        yield chunk


def _source_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def copy_extra(clip: Clip, copy: Copy) -> dict[str, Any]:
    timeline = copy.timeline if not copy.is_source else Timeline.of_source(clip.n_frames, clip.fps)
    frames_out = len(timeline.frames)
    return {"frames_in": clip.n_frames, "frames_out": frames_out, "fps_in": round(float(clip.fps), 6),
            "fps": round(float(timeline.fps), 6), "duration_in": round(clip.duration, 6),
            "duration_out": round(frames_out / float(timeline.fps), 6), "codec": clip.codec,
            "width": copy.size[0] or clip.width, "height": copy.size[1] or clip.height, "audio": copy.audio}


def process(task: Any, config: Any, rows: list, fragments: list | None = None) -> int:
    """Worker: read a clip once for all its copies, place it, write each augmented copy."""
    from augcli.io import file_sha256, write_atomic
    from augcli.manifest import ManifestRow, applied_steps

    item, section, out_root = task.item, config.video, str(config.output)
    path = os.path.join(config.input, item.relpath)
    source_hash = file_sha256(path)
    clip = None
    if task.outputs:  # a clip that cannot be processed is not placed either
        pipeline = pipeline_for(section)
        clip = probe(path, pipeline, section)
    if task.original:
        write_atomic(os.path.join(out_root, task.original), _source_chunks(path))
        rows.append(ManifestRow(item.relpath, task.original, "video", None, None, [], source_hash, source_hash,
                                item.label, item.split))
    if clip is None:
        return 0
    copies = plan_copies(pipeline, clip, list(task.seeds))
    try:
        render(clip, pipeline, copies, section)
        for k, (output, copy) in enumerate(zip(task.outputs, copies, strict=True)):
            digest = hashlib.sha256()
            if copy.is_source:
                write_atomic(os.path.join(out_root, output), _source_chunks(path))
                sha = source_hash
            else:
                write_atomic(os.path.join(out_root, output), _chunks(copy.file, digest))
                sha = digest.hexdigest()
            rows.append(ManifestRow(item.relpath, output, "video", k, copy.seed, applied_steps(copy.applied), sha,
                                    source_hash, item.label, item.split, copy_extra(clip, copy)))
    finally:
        for copy in copies:
            copy.file.close()
    return 0


def planned_files(task: Any, config: Any) -> tuple[int, list[str]]:
    """What ``process`` writes for this task: the clip's original and copies, and no aggregate file."""
    return len(task.outputs) + (task.original is not None), []


def describe_steps() -> list[dict[str, Any]]:
    """augcli's temporal steps, then every albumentations step that runs on frames."""
    from augcli.modalities.image_steps import describe_steps as image_steps

    described = [{"name": name, "composition": False, "params": cls.params_doc(), "summary": cls.summary,
                  "temporal": True} for name, cls in TEMPORAL_STEPS.items()]
    return described + [entry for entry in image_steps() if not entry.get("needs")]


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    import av
    import cv2

    return {"av": av.__version__, "ffmpeg": av.ffmpeg_version_info, "albumentations": version("albumentations"),
            "opencv": cv2.__version__, "numpy": np.__version__, "librosa": version("librosa")}



def preview_frames(path: str, section: Any, seeds: list[int]) -> tuple[list[np.ndarray], list[tuple[list, list]]]:
    """The first, middle and last frames (RGB) of the source and of each copy a run would write with these
    seeds, decoded from the written bytes (codec and all), with each copy's applied steps."""
    pipeline = pipeline_for(section)
    clip = probe(path, pipeline, section)
    copies = plan_copies(pipeline, clip, seeds)
    try:
        render(clip, pipeline, copies, section)
        shown = [(_first_middle_last(path if copy.is_source else copy.file), copy.applied) for copy in copies]
    finally:
        for copy in copies:
            copy.file.close()
    return _first_middle_last(path), shown


def _first_middle_last(source: str | BinaryIO) -> list[np.ndarray]:
    import av

    if not isinstance(source, str):
        source.seek(0)
    with av.open(source) as container:
        frames = [_to_rgb(frame) for frame in container.decode(video=0)]
    return [frames[0], frames[len(frames) // 2], frames[-1]] if frames else []


def preview(config: Any, items: list, n: int, copies: int, failed: list | None = None) -> list[Sample]:
    """``n`` of these clips spread across labels: the first, middle and last frames of the original and of
    the copies a run writes (decoded from their bytes), one above the other."""
    samples = []
    for item in pick_samples(items, n):
        sample = Sample(item.relpath, item.label)
        seeds = [item_seed(config.seed, item.relpath, k) for k in range(copies)]
        try:
            original, shown = preview_frames(os.path.join(config.input, item.relpath), config.video, seeds)
        except (ItemError, OSError) as exc:
            sample.error = str(exc)
            samples.append(sample)
            continue
        sample.cells.append(Cell(frame_strip(original), "original"))
        sample.cells += [Cell(frame_strip(frames), f"copy {k}", applied_steps(applied), seeds[k])
                         for k, (frames, applied) in enumerate(shown)]
        samples.append(sample)
    return samples


def frame_strip(frames: list[np.ndarray]) -> np.ndarray:
    """RGB frames (first, middle, last) one above the other, 4 px apart, as one BGR image."""
    import cv2

    gap = np.full((4, frames[0].shape[1], 3), BACKGROUND, np.uint8)
    parts = [part for frame in frames for part in (cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), gap)][:-1]
    return np.vstack(parts)
