"""Hostile inputs of issue 20, items 3, 4, 5, 12 and 13, one regression test each, named after the item:
decoded-size limits, a closed stdout, version-like tokens, library messages that said nothing, and
a progress bar that counts what is written."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA, invoke, write_config

# A child that runs a command and reports the largest resident set of the processes under it (the
# command, its workers): what one over-size file costs, measured from outside the test process.
MEASURED = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); "
            "sys.stderr.write(f'\\nMAXRSS_KB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); "
            "sys.exit(done.returncode)")


def measured(*args) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``augcli ARGS`` in a subprocess; return it and its peak memory in MB."""
    done = subprocess.run([sys.executable, "-c", MEASURED, sys.executable, "-m", "augcli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    stderr, _, peak = done.stderr.rpartition("\nMAXRSS_KB ")
    done.stderr = stderr
    return done, int(peak) / 1024


def huge_png(width: int, height: int) -> bytes:
    """A real, valid 8-bit grayscale PNG of width x height black pixels, made row by row (never held decoded):
    30000 x 30000 compresses to 875 KB, as the issue's file did."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compress, rows = zlib.compressobj(9), bytes(width + 1) * 64  # a filter byte, then the row
    idat = b"".join([compress.compress(rows) for _ in range(height // 64)]
                    + [compress.compress(bytes(width + 1) * (height % 64)), compress.flush()])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "huge.png"
    path.write_bytes(huge_png(30000, 30000))
    return path


BOMB_REASON = ("the image is 30000 x 30000 pixels (900.0 megapixels, from a 875 KB file), more than "
               "image.max_pixels (89,478,485): set image.max_pixels higher in the config to augment it, "
               "or exclude the file")


def test_item3_image_max_pixels_refuses_a_huge_image_from_its_header(tmp_path, bomb):
    """run, preview and verify: the 900-megapixel PNG is an error entry naming the file, its size and the
    setting, the other sources are written, and no process holds its pixels (1.8 GB and 30 s before)."""
    assert bomb.stat().st_size < 1_000_000
    data = tmp_path / "data" / "train" / "cat"
    data.mkdir(parents=True)
    photos = sorted((SAMPLE_DATA / "train" / "cat").glob("*.jpg"))[:2]
    for photo in photos:
        shutil.copy(photo, data)
    shutil.copy(bomb, data / "huge.png")
    cfg = write_config(tmp_path / "c.yaml", copies=2, workers=1, image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    done, peak = measured("run", cfg, "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["errors"] == [{"source": "train/cat/huge.png", "reason": BOMB_REASON}]
    written = sorted(p.name for p in (tmp_path / "out" / "train" / "cat").iterdir())
    assert written == sorted([p.name for p in photos] + [f"{p.stem}__aug{k}.jpg" for p in photos for k in (0, 1)])
    assert peak < 500, f"{peak:.0f} MB"  # the decoded pixels alone are 900 MB

    done, peak = measured("preview", cfg, "-o", tmp_path / "p.png")
    assert done.returncode == 0 and f"failed: train/cat/huge.png: {BOMB_REASON}" in done.stderr, done.stderr
    assert peak < 500, f"{peak:.0f} MB"

    shutil.copy(bomb, data / photos[0].name)  # a source of the manifest, now a bomb: verify refuses it alike
    done, peak = measured("verify", tmp_path / "out")
    assert done.returncode == 1 and f"train/cat/{photos[0].name}: {BOMB_REASON}" in done.stderr, done.stderr
    assert peak < 500, f"{peak:.0f} MB"

    raised = write_config(tmp_path / "r.yaml", image={"pipeline": [], "max_pixels": 900_000_000})
    assert invoke("validate", raised).exit_code == 0  # the setting says how to raise it, and it can be


def test_item3_a_huge_mask_is_refused_from_its_header(tmp_path, bomb):
    masks = tmp_path / "masks"
    shutil.copytree(SAMPLE_DATA / "detection" / "masks", masks)
    shutil.copy(bomb, masks / "masks" / "train" / "coffee.png")
    cfg = write_config(tmp_path / "c.yaml", input=str(masks), output=str(tmp_path / "out"), workers=1,
                       image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    done, peak = measured("run", cfg, "--json")
    assert done.returncode == 1, done.stderr
    errors = json.loads(done.stdout)["errors"]
    assert errors == [{"source": "images/train/coffee.jpg", "reason": "masks/train/coffee.png: the mask"
                       + BOMB_REASON.removeprefix("the image")}]
    assert peak < 500, f"{peak:.0f} MB"


def test_item3_audio_max_seconds_and_text_max_chars(tmp_path):
    import numpy as np
    import soundfile as sf

    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    sf.write(data / "long.flac", np.zeros(16000 * 7, dtype=np.float32), 16000)  # 7 s
    sf.write(data / "short.flac", np.zeros(16000 * 2, dtype=np.float32), 16000)
    (data / "essay.txt").write_text("word " * 30, encoding="utf-8")  # 150 characters
    (data / "lines.txt").write_text("short line\n" + "x" * 60 + "\n", encoding="utf-8")
    (data / "rows.csv").write_text("text,label\nshort,a\n" + "y" * 70 + ",b\n", encoding="utf-8")
    (data / "rows.jsonl").write_text(json.dumps({"text": "z" * 80}) + "\n", encoding="utf-8")
    (data / "note.txt").write_text("a short text", encoding="utf-8")
    cfg = write_config(tmp_path / "c.yaml", copies=1, workers=1,
                       audio={"pipeline": [{"Gain": {"p": 1.0}}], "max_seconds": 5},
                       text={"unit": "line", "pipeline": [{"RandomWordAug": {"action": "swap"}}], "max_chars": 50})
    result = invoke("run", cfg, "--json")
    assert result.exit_code == 1
    reasons = {e["source"]: e["reason"] for e in json.loads(result.stdout)["errors"]}
    raise_it = "set text.max_chars higher in the config to augment it, or exclude the file"
    flac_kb = (data / "long.flac").stat().st_size / 1e3
    assert reasons == {
        "train/long.flac": f"the clip is 7 s long (112,000 frames of 1 channel(s) at 16000 Hz, from a {flac_kb:,.0f} "
                           "KB file), more than audio.max_seconds (5): set audio.max_seconds higher in the config "
                           "to augment it, or exclude the file",
        "train/essay.txt": f"line 1 is 150 characters long, more than text.max_chars (50): {raise_it}",
        "train/lines.txt": f"line 2 is 60 characters long, more than text.max_chars (50): {raise_it}",
        "train/rows.csv": f"the 'text' cell of row 3 is 70 characters long, more than text.max_chars (50): {raise_it}",
        "train/rows.jsonl": f"field 'text' of line 1 is 80 characters long, more than text.max_chars (50): {raise_it}"}
    assert (tmp_path / "out" / "train" / "short__aug0.flac").is_file()
    assert (tmp_path / "out" / "train" / "note__aug0.txt").is_file()

    cfg = write_config(tmp_path / "f.yaml", output="out-files", copies=1, workers=1,
                       text={"pipeline": [{"RandomWordAug": {"action": "swap"}}], "max_chars": 50})
    result = invoke("run", cfg, "--json")
    reasons = {e["source"]: e["reason"] for e in json.loads(result.stdout)["errors"]}
    assert reasons["train/lines.txt"] == f"the file is 72 characters long, more than text.max_chars (50): {raise_it}"
    preview = invoke("preview", cfg, "-o", tmp_path / "p.md")
    assert f"failed: train/essay.txt: the file is 150 characters long, more than text.max_chars (50): {raise_it}" in (
        preview.stderr)


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "many"])
def test_item3_limits_are_positive_whole_numbers_named_by_their_yaml_path(tmp_path, bad):
    (tmp_path / "data").mkdir()
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [], "max_pixels": bad},
                       audio={"pipeline": [], "max_seconds": bad}, text={"pipeline": [], "max_chars": bad})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    for key in ("image.max_pixels", "audio.max_seconds", "text.max_chars"):
        assert key in result.output, result.output
    from augcli.modalities.registry import json_schema

    schema = json_schema()["$defs"]
    assert schema["ImageSection"]["properties"]["max_pixels"]["default"] == 89_478_485
    assert {"max_seconds", "max_chars"} <= set(schema["AudioSection"]["properties"]) | set(
        schema["TextSection"]["properties"])

VERSION_SENTENCE = '"VMS Internals", V4.4, when the manual for v1.2.3 came out'


def test_item5_deletion_never_cuts_a_version_token(tmp_path):
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    (data / "notes.txt").write_text(("\n".join([VERSION_SENTENCE] * 40)) + "\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.yaml", copies=3, keep_originals=False,
                       text={"unit": "line", "pipeline": [{"RandomWordAug": {"action": "delete", "aug_p": 0.5}}]})
    assert invoke("run", cfg, "--quiet").exit_code == 0
    lines = [line for k in range(3)
             for line in (tmp_path / "out" / "train" / f"notes__aug{k}.txt").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 120 and len(set(lines)) > 10  # deletions happened, differently per line
    for line in lines:
        assert not re.search(r"(?<!V4)\.4|(?<!v1)\.2\.3|(?<!v1\.2)\.3", line), line
    assert any("V4.4" not in line for line in lines)  # the token itself was deleted, whole, somewhere


def test_item3_raising_a_limit_keeps_the_outputs_made(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=2, workers=1, image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    assert invoke("run", cfg, "--quiet").exit_code == 0
    raised = write_config(tmp_path / "c.yaml", copies=2, workers=1,
                          image={"pipeline": [{"HorizontalFlip": {"p": 1}}], "max_pixels": 200_000_000})
    counts = json.loads(invoke("run", raised, "--json").stdout)["counts"]
    assert counts["reused"] == counts["planned_outputs"] + counts["planned_originals"] == 20, counts


def test_item4_a_closed_stdout_or_a_reader_that_stops_loses_nothing(tmp_path, dataset):
    """``augcli run c.yaml --json >&-`` was an AttributeError traceback; ``| head -c1`` depended on when
    the reader left. Now: no traceback, the run's own exit code, and an output folder that verifies."""
    import os

    (dataset / "train" / "cat" / "broken.png").write_bytes(b"not a PNG")  # the run's code is 1 either way
    cfg = write_config(tmp_path / "c.yaml", copies=2, workers=1, image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    augcli = [sys.executable, "-m", "augcli", "run", str(cfg), "--json"]

    closed = subprocess.run(augcli, preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE, text=True, timeout=300)
    assert closed.returncode == 1 and "Traceback" not in closed.stderr, closed.stderr
    assert closed.stderr.splitlines() == [
        "failed: train/cat/broken.png: cannot decode the file as an image: it is corrupt or not in a format OpenCV "
        "reads; fix it, remove it or exclude it",
        "augcli: standard output was closed, so nothing was printed on it (a run's summary is also in its output "
        "folder's run.json)"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["counts"]["outputs_written"] == 12

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write meets EPIPE
    gone = subprocess.run([*augcli, "--output", str(tmp_path / "out2")], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    os.close(write_end)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr, gone.stderr
    assert gone.stderr.startswith("failed: train/cat/broken.png") and len(gone.stderr.splitlines()) == 1
    for out in ("out", "out2"):
        done = subprocess.run([sys.executable, "-m", "augcli", "verify", str(tmp_path / out)], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert len((tmp_path / out / "manifest.jsonl").read_text().splitlines()) == 20  # 8 originals, 12 copies


def test_item13_the_progress_bar_counts_outputs_not_sources(tmp_path, dataset, monkeypatch):
    """12 copies of a source are 13 steps of the bar (the original too), a table's samples count one each
    (here made in ranges of 2 rows), and a source that fails takes its planned outputs out of the total:
    the bar ends at done == total."""
    import csv

    from augcli import tables
    from augcli.job import run

    monkeypatch.setattr(tables, "RANGE_ROWS", 2)

    shutil.copy(SAMPLE_DATA / "train" / "reviews.csv", dataset / "train" / "reviews.csv")
    with open(dataset / "train" / "reviews.csv", encoding="utf-8", newline="") as f:
        table_rows = len(list(csv.DictReader(f)))
    (dataset / "train" / "dog" / "zz_broken.png").write_bytes(b"not a PNG")  # the last image in plan order
    calls: list[tuple[int, int]] = []
    config = {"input": str(dataset), "output": str(tmp_path / "out"), "copies": 12, "workers": 1,
              "image": {"pipeline": [{"HorizontalFlip": {"p": 1}}]},
              "text": {"pipeline": [{"RandomWordAug": {"action": "swap"}}]}}
    result = run(config, progress=lambda done, total: calls.append((done, total)))
    planned = 6 * 13 + 2 + table_rows * 13 + 13  # 6 photos, val's 2 copied, the table's samples, broken.png
    steps = [done - before for before, done in zip([0] + [d for d, _ in calls], [d for d, _ in calls], strict=False)]
    assert table_rows == 20  # 10 ranges of 2 rows, 26 samples each
    assert sorted(steps) == sorted([13] * 6 + [1] * 2 + [26] * 10 + [0]), steps  # each task: what it wrote
    totals = [total for _, total in calls]
    assert set(totals) == {planned, planned - 13} and totals == sorted(totals, reverse=True), totals
    assert calls[-1] == (planned - 13, planned - 13)  # the failed source left the total, the bar ends full
    assert result.originals_written + result.outputs_written == planned - 13


def test_item12_library_checks_that_said_nothing_name_the_bound_and_the_path(tmp_path):
    """A bare assert (audiomentations' AddGaussianNoise, ClippingDistortion) was 'AssertionError: ' with nothing
    after it; a value the library changes silently (GaussianBlur's even kernel) or takes and cannot mean
    (SynonymAug's aug_p 2) ran. Now each is an error under its YAML path at validate (exit 2), and what a
    library warns while building a step is a warning under the step's path (exit 0: the run goes on)."""
    (tmp_path / "data").mkdir()
    cfg = write_config(tmp_path / "c.yaml",
                       audio={"pipeline": [{"AddGaussianNoise": {"min_amplitude": 0.5, "max_amplitude": 0.1}},
                                           {"ClippingDistortion": {"min_percentile_threshold": 50,
                                                                   "max_percentile_threshold": 10}}]},
                       image={"pipeline": [{"GaussianBlur": {"blur_limit": 4}}, {"MotionBlur": {"blur_limit": [3, 6]}},
                                           {"HorizontalFlip": {"p": 1.5}}]},
                       text={"pipeline": [{"SynonymAug": {"aug_p": 2}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert sorted(result.stderr.splitlines()[1:]) == sorted([
        "  - audio.pipeline[0].AddGaussianNoise: the library requires max_amplitude >= min_amplitude, but "
        "max_amplitude = 0.1, min_amplitude = 0.5",
        "  - audio.pipeline[1].ClippingDistortion: the library requires min_percentile_threshold <= "
        "max_percentile_threshold, but min_percentile_threshold = 50, max_percentile_threshold = 10",
        "  - image.pipeline[0].GaussianBlur.blur_limit: kernel sizes are odd: albumentations would make 4 into 5 "
        "without saying so in the manifest; write 3 or 5",
        "  - image.pipeline[1].MotionBlur.blur_limit: kernel sizes are odd: albumentations would make 6 into 7 "
        "without saying so in the manifest; write 5 or 7",
        "  - image.pipeline[2].HorizontalFlip.p: is a probability, from 0 to 1, not 1.5: the library would take it "
        "without a word and run it as 1",
        "  - text.pipeline[0].SynonymAug.aug_p: is a probability, from 0 to 1, not 2: the library would take it "
        "without a word and run it as 1"]), result.stderr

    shutil.copy(next((SAMPLE_DATA / "train" / "cat").glob("*.jpg")), tmp_path / "data")
    fine = write_config(tmp_path / "f.yaml", image={"pipeline": [{"GaussianBlur": {"blur_limit": 5}},
                                                                 {"ShiftScaleRotate": {}}]})
    result = invoke("validate", fine)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["warning: image.pipeline[1].ShiftScaleRotate: the library warns: "
                                          "ShiftScaleRotate is a special case of Affine transform. Please use "
                                          "Affine transform instead."]
