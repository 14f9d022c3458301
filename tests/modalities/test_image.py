import io
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from augcli.errors import ItemError
from augcli.modalities import image


def png_bytes(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


@pytest.fixture
def photo(photos) -> np.ndarray:
    return photos[0]  # BGR uint8


@pytest.mark.parametrize("mode", ["gray8", "gray16", "bgr8", "bgr16", "bgra8"])
def test_png_round_trip_keeps_mode_and_depth(photo, mode):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    alpha = np.linspace(0, 255, photo.shape[1], dtype=np.uint8)[None, :].repeat(photo.shape[0], 0)
    source = {
        "gray8": gray,
        "gray16": gray.astype(np.uint16) * 257 + 3,
        "bgr8": photo,
        "bgr16": photo.astype(np.uint16) * 256 + 17,
        "bgra8": np.dstack([photo, alpha]),
    }[mode]
    pipeline = image.build_pipeline([{"HorizontalFlip": {"p": 1.0}}])
    decoded = image.decode(png_bytes(source))
    out, applied = image.augment(pipeline, decoded, seed=1)
    written = cv2.imdecode(np.frombuffer(image.encode(out, ".png", None), np.uint8), cv2.IMREAD_UNCHANGED)
    assert written.dtype == source.dtype and written.shape == source.shape
    np.testing.assert_array_equal(written, source[:, ::-1])
    assert [name for name, _ in applied] == ["HorizontalFlip"]


def test_decode_gives_rgb_order(photo):
    decoded = image.decode(png_bytes(photo))
    np.testing.assert_array_equal(decoded, photo[:, :, ::-1])


def test_jpeg_exif_orientation_is_applied(photo):
    pil = Image.fromarray(photo[:, :, ::-1])
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buf = io.BytesIO()
    pil.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = image.decode(buf.getvalue())
    h, w = photo.shape[:2]
    assert decoded.shape == (w, h, 3)
    upright = np.rot90(photo[:, :, ::-1], k=-1).astype(float)
    assert np.abs(decoded.astype(float) - upright).mean() < 4  # JPEG noise only


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "file is empty (0 bytes)"),
        (b"hello, I am text", "cannot decode"),
        (b"\x89PNG\r\n\x1a\n\0\0", "cannot decode"),
    ],
)
def test_undecodable_bytes_raise_item_error(data, reason):
    with pytest.raises(ItemError, match=re.escape(reason)):
        image.decode(data)


def test_format_change_converts_what_the_target_cannot_hold(photo):
    rgba16 = np.dstack([photo, photo[:, :, 0]]).astype(np.uint16) * 257
    jpg = cv2.imdecode(np.frombuffer(image.encode(rgba16, ".jpg", 90), np.uint8), cv2.IMREAD_UNCHANGED)
    assert jpg.dtype == np.uint8 and jpg.shape == (*photo.shape[:2], 3)


def test_same_seed_same_params_other_seed_other_params(photo):
    pipeline = image.build_pipeline([{"Rotate": {"limit": 30, "p": 1.0}}, {"RandomBrightnessContrast": {"p": 1.0}}])
    rgb = photo[:, :, ::-1]
    a, applied_a = image.augment(pipeline, rgb, 5)
    b, applied_b = image.augment(pipeline, rgb, 5)
    c, _ = image.augment(pipeline, rgb, 6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(applied_a[1][1]["alpha"], applied_b[1][1]["alpha"])
    assert not np.array_equal(a, c)


def test_independent_steps_are_drawn_independently(photo):
    """Three p=0.5 steps: over many seeds every number of applied steps (0-3) must occur,
    in roughly binomial proportions, not all-or-nothing."""
    flips = [{"HorizontalFlip": {"p": 0.5}}, {"VerticalFlip": {"p": 0.5}}, {"Transpose": {"p": 0.5}}]
    pipeline = image.build_pipeline(flips)
    small = photo[:8, :8, ::-1]
    counts = np.bincount([len(image.augment(pipeline, small, seed)[1]) for seed in range(400)], minlength=4)
    assert counts.sum() == 400 and counts.min() > 0
    assert 0.6 < (counts[1] + counts[2]) / 400 < 0.9  # binomial(3, 0.5): 0.75


@pytest.mark.parametrize("composition", ["OneOf", "SomeOf", "Sequential", "OneOrOther", "RandomOrder"])
def test_every_composition_records_its_applied_children(photo, composition):
    params = {"p": 1.0, "transforms": [{"HorizontalFlip": {"p": 1.0}}, {"VerticalFlip": {"p": 1.0}}]}
    if composition in ("SomeOf", "RandomOrder"):
        params["n"] = 1
    pipeline = image.build_pipeline([{composition: params}])
    rgb = photo[:, :, ::-1]
    for seed in range(6):
        out, applied = image.augment(pipeline, rgb, seed)
        names = [name for name, _ in applied]
        assert names, f"{composition} recorded nothing for seed {seed}"
        expected = rgb
        for name in names:
            expected = expected[:, ::-1] if name == "HorizontalFlip" else expected[::-1]
        np.testing.assert_array_equal(out, expected)


def test_nested_compositions_build(photo):
    steps = [{"OneOf": {"p": 1, "transforms": [
        {"Sequential": {"p": 1, "transforms": [{"HorizontalFlip": {"p": 1}}, {"SomeOf": {
            "n": 1, "p": 1, "transforms": [{"Transpose": {"p": 1}}]}}]}}]}}]
    out, applied = image.augment(image.build_pipeline(steps), photo[:, :, ::-1], 0)
    assert [n for n, _ in applied] == ["HorizontalFlip", "Transpose"]
    np.testing.assert_array_equal(out, np.transpose(photo[:, ::-1, ::-1], (1, 0, 2)))
