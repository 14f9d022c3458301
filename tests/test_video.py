"""Video clips: one draw per copy on every frame, temporal steps, audio in sync, reproducible bytes, bad clips.

Clips are made here with PyAV from the photos of sample_data/ (tests/video_clips.py): a pan, so every
frame differs from the others and its place in the clip shows.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from augcli.manifest import MANIFEST_NAME, read_manifest
from tests.conftest import invoke, write_config
from tests.video_clips import AUDIO_RATE, TONE_HZ, make_clip, read_clip

N_FRAMES, FPS = 24, 12  # 2 s clips


def run_video(tmp_path: Path, pipeline: list, *args: str, copies: int = 3, out: str = "out", **video) -> list[dict]:
    video.setdefault("crf", 8)  # near-lossless: a frame is told from its neighbours with a wide margin
    config = write_config(tmp_path / "config.yaml", input="data", output=out, seed=7, copies=copies,
                          video={"pipeline": pipeline, **video})
    result = invoke("run", config, "--workers", "1", "--json", *args)
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, summary["errors"]
    return [row for row in read_manifest(tmp_path / out / MANIFEST_NAME) if row["copy"] is not None]


@pytest.fixture
def clip(tmp_path: Path) -> list[np.ndarray]:
    """data/train/pan/clip.mp4 (H.264 + AAC) at near-lossless quality; its source frames as decoded."""
    make_clip(tmp_path / "data/train/pan/clip.mp4", N_FRAMES, FPS, crf=8)
    return read_clip(tmp_path / "data/train/pan/clip.mp4")[0]


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def nearest_source(frame: np.ndarray, source: list[np.ndarray]) -> tuple[int, float]:
    distances = [mean_abs(frame, s) for s in source]
    return int(np.argmin(distances)), min(distances)


def test_a_flip_is_on_every_frame_of_a_copy_or_on_none(tmp_path, clip):
    rows = run_video(tmp_path, [{"HorizontalFlip": {"p": 0.5}}], copies=8)
    flipped_copies = 0
    for row in rows:
        frames = read_clip(tmp_path / "out" / row["output"])[0]
        assert len(frames) == N_FRAMES
        flipped = [mean_abs(f, s[:, ::-1]) < mean_abs(f, s) for f, s in zip(frames, clip, strict=True)]
        applied = [t["name"] for t in row["transforms"]] == ["HorizontalFlip"]
        assert flipped == [applied] * N_FRAMES, row["output"]
        flipped_copies += applied
    assert 0 < flipped_copies < len(rows)  # both kinds of copy were drawn


def test_a_fixed_brightness_shift_moves_every_frame_by_the_same_amount(tmp_path, clip):
    step = {"RandomBrightnessContrast": {"brightness_limit": [0.1, 0.1], "contrast_limit": [0, 0], "p": 1}}
    (row,) = run_video(tmp_path, [step], copies=1)
    frames = read_clip(tmp_path / "out" / row["output"])[0]
    shifts = []
    for out, src in zip(frames, clip, strict=True):
        dark = src < 200  # not clipped at 255
        shifts.append(float(np.median(out[dark].astype(np.int16) - src[dark])))
    assert shifts == [shifts[0]] * N_FRAMES
    assert 24 <= shifts[0] <= 27  # 0.1 of the full range: 25.5


def test_temporal_crop_gives_exactly_its_frames_each_a_source_frame(tmp_path, clip):
    rows = run_video(tmp_path, [{"TemporalCrop": {"frames": 8}}], copies=3)
    starts = set()
    for row in rows:
        (step,) = row["transforms"]
        assert step["name"] == "TemporalCrop" and step["params"]["frames"] == 8
        start = step["params"]["start"]
        starts.add(start)
        frames, fps, audio, rate = read_clip(tmp_path / "out" / row["output"])
        assert len(frames) == 8 and fps == FPS
        for j, frame in enumerate(frames):
            index, distance = nearest_source(frame, clip)
            assert index == start + j and distance < 2.0, (row["output"], j)
        assert (row["frames_in"], row["frames_out"], row["duration_in"], row["duration_out"]) == (24, 8, 2.0, 0.666667)
        assert row["audio"] == "cut"
        assert abs(audio.shape[1] / rate - 8 / FPS) < 0.05  # the audio is cut with the frames
    assert len(starts) > 1


def test_speed_change_at_rate_2_halves_the_video_and_the_audio(tmp_path, clip):
    (row,) = run_video(tmp_path, [{"SpeedChange": {"min_rate": 2, "max_rate": 2}}], copies=1)
    frames, fps, audio, _ = read_clip(tmp_path / "out" / row["output"])
    _, _, source_audio, _ = read_clip(tmp_path / "data/train/pan/clip.mp4")
    assert row["transforms"] == [{"name": "SpeedChange", "params": {"rate": 2.0}}]
    assert (len(frames), fps, row["duration_out"], row["audio"]) == (12, FPS, 1.0, "stretched")
    for j, frame in enumerate(frames):  # every other source frame
        assert nearest_source(frame, clip)[0] == 2 * j
    assert abs(audio.shape[1] / source_audio.shape[1] - 0.5) < 0.03
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(np.argmax(spectrum) * AUDIO_RATE / audio.shape[1] - TONE_HZ) < 10  # time-stretched, not pitched


def test_frame_subsample_halves_the_frame_rate_and_keeps_the_audio_as_it_was(tmp_path, clip):
    (row,) = run_video(tmp_path, [{"FrameSubsample": {"stride": 2}}, {"HorizontalFlip": {"p": 1}}], copies=1)
    frames, fps, audio, _ = read_clip(tmp_path / "out" / row["output"])
    _, _, source_audio, _ = read_clip(tmp_path / "data/train/pan/clip.mp4")
    assert (len(frames), fps, row["fps"], row["duration_out"], row["audio"]) == (12, FPS / 2, 6.0, 2.0, "copied")
    assert [nearest_source(f[:, ::-1], clip)[0] for f in frames] == list(range(0, 24, 2))
    assert np.array_equal(audio, source_audio)  # the packets are copied, not re-encoded


def test_frame_drop_shows_the_previous_frame_at_each_recorded_drop(tmp_path, clip):
    rows = run_video(tmp_path, [{"FrameDrop": {"p": 0.3}}], copies=2)
    for row in rows:
        dropped = set(row["transforms"][0]["params"]["dropped"])
        assert dropped
        frames = read_clip(tmp_path / "out" / row["output"])[0]
        shown = [nearest_source(f, clip)[0] for f in frames]
        expected = []
        for j in range(N_FRAMES):
            expected.append(expected[-1] if j in dropped else j)
        assert shown == expected


def test_outputs_keep_the_container_codecs_and_size_and_the_audio_can_be_dropped(tmp_path):
    import av

    make_clip(tmp_path / "data/a.webm", 12, FPS)
    rows = run_video(tmp_path, [{"HorizontalFlip": {"p": 1}}], copies=1, drop_audio=True)
    with av.open(str(tmp_path / "out" / rows[0]["output"])) as container:
        assert container.format.name == "matroska,webm"
        assert [s.codec_context.name for s in container.streams] == ["vp9"]
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height, video.codec_context.pix_fmt) == (96, 64,
                                                                                                      "yuv420p")
    assert rows[0]["audio"] == "dropped"


def test_a_copy_no_step_changed_is_the_source_file(tmp_path, clip):
    rows = run_video(tmp_path, [{"HorizontalFlip": {"p": 0}}], copies=1)
    assert rows[0]["transforms"] == [] and rows[0]["sha256"] == rows[0]["source_sha256"]


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".mp4", ".webm")}


PIPELINE = [{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}},
            {"TemporalCrop": {"frames": 16}}, {"FrameSubsample": {"stride": [1, 2]}},
            {"SpeedChange": {"min_rate": 0.8, "max_rate": 1.25}}, {"FrameDrop": {"p": 0.1}}]


def test_outputs_are_byte_identical_for_1_and_2_workers_and_verify_and_resume(tmp_path):
    make_clip(tmp_path / "data/train/a/one.mp4", N_FRAMES, FPS)
    make_clip(tmp_path / "data/train/a/two.webm", N_FRAMES, FPS)
    make_clip(tmp_path / "data/train/b/three.mp4", 18, FPS, size=(64, 48))
    config = write_config(tmp_path / "config.yaml", input="data", output="out", seed=3, copies=3,
                          video={"pipeline": PIPELINE})
    for out, workers in (("out1", "1"), ("out2", "2")):
        assert invoke("run", config, "--workers", workers, "--output", tmp_path / out, "-q").exit_code == 0
    first = hashes(tmp_path / "out1")
    assert len(first) == 12 and first == hashes(tmp_path / "out2")
    assert invoke("verify", tmp_path / "out1").exit_code == 0
    again = invoke("run", config, "--workers", "1", "--output", tmp_path / "out1", "--json")
    assert json.loads(again.stdout)["counts"]["reused"] == 12


def test_manifest_rows_record_the_timing(tmp_path):
    make_clip(tmp_path / "data/clip.mp4", N_FRAMES, FPS)
    rows = run_video(tmp_path, PIPELINE, copies=4)
    for row in rows:
        names = [t["name"] for t in row["transforms"]]
        assert names[:3] == ["TemporalCrop", "FrameSubsample", "SpeedChange"]  # p=1, in pipeline order
        assert "FrameDrop" not in names or names[3] == "FrameDrop"  # recorded when it dropped a frame
        frames, fps, _, _ = read_clip(tmp_path / "out" / row["output"])
        assert (row["frames_out"], row["fps"]) == (len(frames), fps)
        assert row["duration_out"] == round(len(frames) / fps, 6)
        assert row["frames_in"] == N_FRAMES and row["duration_in"] == 2.0 and row["fps_in"] == FPS


def test_bad_clips_are_error_entries_naming_the_file_and_the_others_are_written(tmp_path):
    import av

    data = tmp_path / "data"
    make_clip(data / "good.mp4", 12, FPS)
    whole = (data / "good.mp4").read_bytes()
    (data / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    make_clip(tmp_path / "cut.webm", N_FRAMES, FPS)
    webm = (tmp_path / "cut.webm").read_bytes()
    (data / "truncated.webm").write_bytes(webm[: len(webm) * 2 // 3])
    make_clip(data / "mpeg4.avi", 12, FPS)  # MPEG-4 part 2: read, but not written back
    with av.open(str(data / "sound_only.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    config = write_config(tmp_path / "config.yaml", video={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    result = invoke("run", config, "--workers", "1", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1
    reasons = {e["source"]: e["reason"] for e in summary["errors"]}
    assert set(reasons) == {"truncated.mp4", "truncated.webm", "mpeg4.avi", "sound_only.mp4"}
    assert "cannot read the file as a video" in reasons["truncated.mp4"]
    assert "truncated" in reasons["truncated.webm"] and "2.0" in reasons["truncated.webm"]
    assert "video codec is mpeg4" in reasons["mpeg4.avi"] and "h264" in reasons["mpeg4.avi"]
    assert "no video stream" in reasons["sound_only.mp4"]
    assert str(tmp_path) not in " ".join(reasons.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file() and p.suffix != ".json"
                  and p.suffix != ".jsonl") == ["good.mp4", "good__aug0.mp4"]


@pytest.mark.parametrize(("pipeline", "where", "says"), [
    ([{"TemporalCrp": {"frames": 4}}], "video.pipeline[0]", "did you mean 'TemporalCrop'"),
    ([{"TemporalCrop": {"frames": 4, "seconds": 1}}], "video.pipeline[0].TemporalCrop", "one of 'frames'"),
    ([{"SpeedChange": {"min_rate": 2, "max_rate": 1}}], "video.pipeline[0].SpeedChange", "above max_rate"),
    ([{"FrameSubsample": {"strid": 2}}], "video.pipeline[0].FrameSubsample.strid", "did you mean 'stride'"),
    ([{"BBoxSafeRandomCrop": {}}], "video.pipeline[0]", "which video clips do not have"),
    ([{"Normalize": {}}], "video.pipeline[0]", "augcli cannot run Normalize"),
    ([{"Rotate": {"limit": "a lot"}}], "video.pipeline[0].Rotate.limit", ""),
])
def test_pipeline_problems_are_config_errors_naming_the_yaml_path(tmp_path, pipeline, where, says):
    (tmp_path / "data").mkdir()
    config = write_config(tmp_path / "config.yaml", video={"pipeline": pipeline})
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert where in result.stderr and says in result.stderr, result.stderr


def test_a_bitrate_that_is_not_one_is_a_config_error(tmp_path):
    (tmp_path / "data").mkdir()
    config = write_config(tmp_path / "config.yaml", video={"pipeline": [], "bitrate": "fast"})
    result = invoke("validate", config)
    assert result.exit_code == 2 and "video.bitrate" in result.stderr and "'2M'" in result.stderr


def test_a_bitrate_sets_the_encoders_rate(tmp_path, clip):
    low = run_video(tmp_path, [{"HorizontalFlip": {"p": 1}}], copies=1, out="low", bitrate="50k", crf=None)
    high = run_video(tmp_path, [{"HorizontalFlip": {"p": 1}}], copies=1, out="high", bitrate="2M", crf=None)
    assert (tmp_path / "low" / low[0]["output"]).stat().st_size < (tmp_path / "high" / high[0]["output"]).stat().st_size


def test_transforms_video_lists_the_temporal_steps_with_their_parameters():
    result = invoke("transforms", "video")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1:5] == [
        "  TemporalCrop(frames=null, seconds=null, p=1.0)  [temporal: augcli's]",
        "  FrameSubsample(stride=[1, 2], p=1.0)  [temporal: augcli's]",
        "  SpeedChange(min_rate=0.8, max_rate=1.25, p=1.0)  [temporal: augcli's]",
        "  FrameDrop(p=0.05)  [temporal: augcli's]",
    ]
    assert any(line.startswith("  HorizontalFlip(") for line in lines)
    assert not any(line.startswith("  BBoxSafeRandomCrop(") for line in lines)


def test_preview_shows_the_first_middle_and_last_frames_of_each_copy(tmp_path, clip):
    import cv2

    from augcli.preview import CAPTION, CELL

    config = write_config(tmp_path / "config.yaml", copies=2,
                          video={"pipeline": [{"HorizontalFlip": {"p": 1}}, {"TemporalCrop": {"frames": 6}}]})
    result = invoke("preview", config, "-o", tmp_path / "preview.png")
    assert result.exit_code == 0
    assert "1 clips x (original + 2 copies), first, middle and last frames" in result.stdout
    grid = cv2.imread(str(tmp_path / "preview.png"))
    assert grid.shape == (CELL + CAPTION, 3 * CELL, 3)
    original, copy = grid[:CELL, :CELL].astype(np.float32), grid[:CELL, CELL : 2 * CELL].astype(np.float32)
    # three frames one above the other; the copy is flipped, and its frames are a window of the source's
    third = CELL // 3
    first_original, first_copy = original[:third - 4], copy[:third - 4]
    assert np.abs(first_copy[:, ::-1] - first_original).mean() < np.abs(first_copy - first_original).mean()


def test_drop_audio_leaves_the_track_out_even_of_a_copy_no_step_changed(tmp_path, clip):
    import av

    (row,) = run_video(tmp_path, [{"HorizontalFlip": {"p": 0}}], copies=1, drop_audio=True)
    with av.open(str(tmp_path / "out" / row["output"])) as container:
        assert [s.type for s in container.streams] == ["video"]
    assert row["audio"] == "dropped" and row["sha256"] != row["source_sha256"]
