import json
import os
import shutil
import subprocess
import sys

import pytest

from augcli.dataset import AUGMENT, COPY, discover, glob_to_regex
from augcli.modalities.registry import load_config
from tests.conftest import invoke, make_image_folder, without_root_powers, write_config


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.jpg", "a.jpg", True),
        ("**/*.jpg", "train/cat/a.jpg", True),
        ("**/*.jpg", "train/cat/a.JPG", True),
        ("**/*.jpg", "train/cat/a.jpeg", False),
        ("*.jpg", "train/a.jpg", False),
        ("train/**", "train/cat/a.png", True),
        ("**/raw/*", "x/raw/a.png", True),
        ("**/raw/*", "x/raw/y/a.png", False),
        ("img_0[0-4].png", "img_03.png", True),
        ("img_0[!0-4].png", "img_03.png", False),
        ("img_?.png", "img_1.png", True),
    ],
)
def test_glob(pattern, path, matches):
    assert bool(glob_to_regex(pattern).match(path)) is matches


def discovered(tmp_path, **keys):
    keys.setdefault("image", {"pipeline": []})
    return discover(load_config(write_config(tmp_path / "c.yaml", **keys)))


def test_imagefolder_with_splits(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 2, "Validation/dog": 1, "test": 1})
    (tmp_path / "data" / ".hidden").mkdir()
    (tmp_path / "data" / ".hidden" / "x.png").write_bytes(b"")
    (tmp_path / "data" / "train" / "labels.csv").write_text("a,b\n")
    found = discovered(tmp_path)
    assert [(i.relpath, i.label, i.split, i.action) for i in found.items] == [
        ("Validation/dog/img_00.png", "dog", "Validation", COPY),
        ("test/img_00.png", None, "test", COPY),
        ("train/cat/img_00.png", "cat", "train", AUGMENT),
        ("train/cat/img_01.png", "cat", "train", AUGMENT),
    ]
    assert found.unmatched == 1


def test_no_splits_label_is_the_first_folder(tmp_path):
    make_image_folder(tmp_path / "data", {"cat": 1, "dog/sub": 1, ".": 1})
    found = discovered(tmp_path)
    assert [(i.relpath, i.label, i.split, i.action) for i in found.items] == [
        ("cat/img_00.png", "cat", None, AUGMENT),
        ("dog/sub/img_00.png", "dog", None, AUGMENT),
        ("img_00.png", None, None, AUGMENT),
    ]


def test_exclude_patterns(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 3, "train/dog": 1})
    found = discovered(tmp_path, exclude=["**/dog/**"], image={"pipeline": [], "exclude": ["**/img_01.png"]})
    assert [i.relpath for i in found.items] == ["train/cat/img_00.png", "train/cat/img_02.png"]


NON_UTF8 = b"caf\xe9.png"  # Latin-1 "café": a name Python can only hold with surrogates


def test_non_utf8_name_is_an_error_entry_and_the_rest_is_found(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 2})
    shutil.copy(tmp_path / "data/train/cat/img_00.png", os.fsencode(tmp_path / "data/train/cat") + b"/" + NON_UTF8)
    found = discovered(tmp_path)
    assert [i.relpath for i in found.items] == ["train/cat/img_00.png", "train/cat/img_01.png"]
    assert len(found.errors) == 1
    assert found.errors[0]["source"] == "train/cat/caf\\xe9.png"
    assert "not valid UTF-8" in found.errors[0]["reason"] and "rename" in found.errors[0]["reason"]


def test_non_utf8_name_fails_alone_in_run_and_validate(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 2})
    shutil.copy(tmp_path / "data/train/cat/img_00.png", os.fsencode(tmp_path / "data/train/cat") + b"/" + NON_UTF8)
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    checked = invoke("validate", cfg)
    assert checked.exit_code == 0 and "train/cat/caf\\xe9.png" in checked.output
    result = invoke("run", cfg, "--json", "--workers", "1")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["counts"]["outputs_written"] == 2
    assert [e["source"] for e in summary["errors"]] == ["train/cat/caf\\xe9.png"]
    run_json = json.loads((tmp_path / "out/run.json").read_text())
    assert run_json["errors"] == summary["errors"]


def test_unreadable_folder_is_an_error_entry_naming_it(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 2, "train/dog": 2})
    locked = tmp_path / "data/train/dog"
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {"p": 1}}]})
    locked.chmod(0)
    try:
        done = subprocess.run([*without_root_powers(), sys.executable, "-m", "augcli", "run", str(cfg), "--json",
                               "--workers", "1"], capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"]["outputs_written"] == 2  # the readable folder was augmented
    assert [e["source"] for e in summary["errors"]] == ["train/dog/"]
    assert "Permission denied" in summary["errors"][0]["reason"]
    assert "failed: train/dog/: cannot read this folder" in done.stderr


def test_unreadable_folder_that_is_excluded_is_not_an_error(tmp_path, monkeypatch):
    make_image_folder(tmp_path / "data", {"train/cat": 1, "train/drafts": 1})
    real_scandir = os.scandir

    def scandir(path):  # what os.walk sees for a folder it may not list
        if str(path).endswith("drafts"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert discovered(tmp_path, exclude=["**/drafts/**"]).errors == []
    assert [e["source"] for e in discovered(tmp_path).errors] == ["train/drafts/"]
