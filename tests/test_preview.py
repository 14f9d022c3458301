import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from augcli.dataset import discover
from augcli.image_codec import to_display
from augcli.modalities.registry import load_config
from augcli.preview import CAPTION, CELL, fit_to_cell, preview, text_preview
from augcli.samples import pick_samples
from tests.conftest import SAMPLE_DATA, invoke, make_image_folder, make_noisy, write_config

FLIP = [{"HorizontalFlip": {"p": 1.0}}]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def labelled(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 4, "train/dog": 2, "train/eel": 1, "val/cat": 2})
    return tmp_path


def test_grid_has_a_row_per_sample_and_a_cell_per_copy(labelled):
    cfg = write_config(labelled / "c.yaml", copies=5, image={"pipeline": FLIP})
    out = labelled / "grid.png"
    result = invoke("preview", cfg, "-n", 3, "--copies", 2, "-o", out)
    assert result.exit_code == 0, result.output
    grid = cv2.imread(str(out))
    assert grid.shape == (3 * (CELL + CAPTION), 3 * CELL, 3)
    assert sorted(p.name for p in labelled.iterdir()) == ["c.yaml", "data", "grid.png"]  # nothing else written


def test_flip_cell_equals_the_flipped_original_at_cell_scale(labelled):
    cfg = write_config(labelled / "c.yaml", image={"pipeline": FLIP})
    out = labelled / "grid.png"
    assert invoke("preview", cfg, "-n", 2, "--copies", 1, "-o", out).exit_code == 0
    grid = cv2.imread(str(out))
    samples = pick_samples([i for i in discover(load_config(cfg)).items if i.split == "train"], 2)
    for row, item in enumerate(samples):
        source = cv2.imread(str(labelled / "data" / item.relpath))
        top = row * (CELL + CAPTION)
        np.testing.assert_array_equal(grid[top : top + CELL, :CELL], fit_to_cell(source))
        np.testing.assert_array_equal(grid[top : top + CELL, CELL : 2 * CELL], fit_to_cell(np.fliplr(source)))


def test_same_seed_same_png_bytes_other_seed_other_bytes(labelled):
    pipeline = [{"Rotate": {"limit": 30, "p": 1.0}}, {"RandomBrightnessContrast": {"p": 1.0}}]
    cfg = write_config(labelled / "c.yaml", image={"pipeline": pipeline})
    blobs = []
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        assert invoke("preview", cfg, "--seed", seed, "-o", labelled / f"{name}.png").exit_code == 0
        blobs.append((labelled / f"{name}.png").read_bytes())
    assert blobs[0] == blobs[1] != blobs[2]


def test_preview_copies_are_what_run_writes(labelled):
    pipeline = [{"Rotate": {"limit": 30, "p": 0.7}}, {"GaussianBlur": {"p": 0.5}}]
    cfg = write_config(labelled / "c.yaml", copies=2, image={"pipeline": pipeline})
    assert invoke("run", cfg).exit_code == 0
    for sample in preview(load_config(cfg), n=3, copies=2):
        for k, cell in enumerate(sample.cells[1:]):
            written = cv2.imread(str(labelled / "out" / sample.source.replace(".png", f"__aug{k}.png")))
            np.testing.assert_array_equal(cell.image, written)


def test_samples_spread_across_labels(labelled):
    items = discover(load_config(write_config(labelled / "c.yaml", image={"pipeline": FLIP}))).items
    train = [i for i in items if i.split == "train"]
    assert [(i.label, i.relpath.rsplit("/", 1)[1]) for i in pick_samples(train, 5)] == [
        ("cat", "img_00.png"), ("cat", "img_02.png"), ("dog", "img_00.png"), ("dog", "img_01.png"),
        ("eel", "img_00.png")]
    assert len(pick_samples(train, 50)) == len(train)


def test_to_display_handles_every_mode():
    gray16 = np.full((4, 5), 65535, np.uint16)
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    assert to_display(gray16).shape == (4, 5, 3) and to_display(gray16).max() == 255
    np.testing.assert_array_equal(to_display(rgba)[0, 0], [0, 0, 255])  # opaque red, BGR


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_html_gallery_renders_every_sample_in_headless_chromium(labelled, tmp_path):
    cfg = write_config(labelled / "c.yaml", image={"pipeline": FLIP})
    page = labelled / "gallery.html"
    assert invoke("preview", cfg, "-n", 3, "--copies", 2, "--html", "-o", page).exit_code == 0
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert 'data-rendered="9"' in dom  # 3 samples x (original + 2 copies), all decoded by the browser
    for sample in preview(load_config(cfg), n=3, copies=2):
        assert sample.source in dom


def test_text_preview_shows_what_run_writes_and_writes_markdown(tmp_path):
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "train" / "quotes.txt", data)
    shutil.copy(SAMPLE_DATA / "train" / "reviews.csv", data)
    steps = [{"RandomWordAug": {"action": "swap"}}, {"KeyboardAug": {}}]
    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"unit": "line", "pipeline": steps})
    result = invoke("preview", cfg, "-n", 4, "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output  # no colour when not on a terminal
    markdown = (tmp_path / "p.md").read_text()
    assert not (tmp_path / "p.png").exists()  # no images in this config
    assert invoke("run", cfg).exit_code == 0
    written = (tmp_path / "out" / "train" / "quotes__aug1.txt").read_text().splitlines()
    samples = text_preview(load_config(cfg), n=4, copies=2)
    assert [s.source for s in samples] == ["train/quotes.txt line 0", "train/reviews.csv row 0",
                                           "train/quotes.txt line 1", "train/reviews.csv row 1"]
    assert samples[0].copies[1][0] == written[0] and samples[2].copies[1][0] == written[1]
    for sample in samples:
        assert f"## {sample.source}" in markdown and sample.original.split("\n")[0] in result.output


def test_text_files_that_give_no_samples_are_named_and_the_others_previewed(tmp_path):
    """An empty table made preview print a traceback (run records it as a failed source)."""
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "train" / "reviews.csv", data)
    (data / "empty.csv").write_bytes(b"")
    (data / "latin.csv").write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    (data / "nocol.csv").write_text("foo,label\nx,y\n")
    cfg = write_config(tmp_path / "c.yaml", text={"pipeline": [{"RandomWordAug": {"action": "swap"}}]})
    result = invoke("preview", cfg, "-n", 4, "-o", tmp_path / "p.md")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "train/reviews.csv row 0" in result.stdout
    run = invoke("run", cfg, "--json")
    reasons = {e["source"]: e["reason"] for e in json.loads(run.stdout)["errors"]}
    assert sorted(reasons) == ["train/empty.csv", "train/latin.csv", "train/nocol.csv"]
    assert sorted(result.stderr.splitlines()) == sorted(f"failed: {k}: {v}" for k, v in reasons.items())


@pytest.fixture
def speech(tmp_path):
    data = tmp_path / "data" / "train" / "speech"
    data.mkdir(parents=True)
    for wav in sorted((SAMPLE_DATA / "train" / "speech").glob("*.wav"))[:2]:
        shutil.copy(wav, data)
    pipeline = [{"Gain": {"min_gain_db": -3, "max_gain_db": 3, "p": 1.0}}, {"AddGaussianNoise": {"p": 0.5}}]
    return write_config(tmp_path / "c.yaml", copies=2, audio={"pipeline": pipeline})


def test_audio_preview_grid_and_clips_are_what_run_writes(tmp_path, speech):
    result = invoke("preview", speech, "-n", 2, "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    grid = cv2.imread(str(tmp_path / "p.png"))
    assert grid.shape == (2 * (CELL + CAPTION), 3 * CELL, 3)
    clips = sorted((tmp_path / "p_clips").iterdir())
    assert len(clips) == 2 * 3
    assert invoke("run", speech).exit_code == 0
    for name in ("utt_train_00", "utt_train_01"):
        for k in range(2):
            preview_clip = tmp_path / "p_clips" / f"train__speech__{name}__copy{k}.wav"
            written = tmp_path / "out" / "train" / "speech" / f"{name}__aug{k}.wav"
            assert preview_clip.read_bytes() == written.read_bytes()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_html_gallery_audio_players_are_playable_in_headless_chromium(tmp_path, speech):
    page = tmp_path / "gallery.html"
    assert invoke("preview", speech, "-n", 2, "--html", "-o", page).exit_code == 0
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy="
         "no-user-gesture-required", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert 'data-rendered="6"' in dom  # 2 clips x (original + 2 copies) spectrograms
    assert 'data-playable="6"' in dom  # every <audio> loaded its metadata with a positive duration


def test_library_messages_are_listed_once_after_the_preview_not_printed_raw(labelled, monkeypatch, capfd):
    from augcli.modalities import image

    make_noisy(monkeypatch, image, "augment")
    cfg = write_config(labelled / "c.yaml", copies=2, image={"pipeline": FLIP})
    result = invoke("preview", cfg, "-n", 3, "-o", labelled / "grid.png")
    assert result.exit_code == 0, result.output
    assert "libpng" not in capfd.readouterr().err
    assert result.output.endswith("library messages (2 distinct):\n  UserWarning: resampled, this hurt execution time\n"
                                  "  libpng warning: iCCP: known incorrect sRGB profile\n")


def test_a_preview_path_that_cannot_be_written_is_named_with_what_to_do(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {}}]})
    (tmp_path / "afile").write_text("")
    result = invoke("preview", cfg, "-o", tmp_path / "afile" / "x.png")
    assert result.exit_code == 2
    assert result.output == (f"error: cannot write the preview {tmp_path / 'afile' / 'x.png'} (Not a directory): "
                             "choose another -o path, or make its folder writable\n")
