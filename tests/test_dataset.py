import pytest

from augcli.config import load_config
from augcli.dataset import AUGMENT, COPY, discover, glob_to_regex
from tests.conftest import make_image_folder, write_config


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
