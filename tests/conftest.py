"""Fixtures: small ImageFolder datasets made in tmp_path from the real photos in sample_data/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import cli

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def sample_photos() -> list[np.ndarray]:
    """The colour photos of sample_data (BGR, as OpenCV reads them)."""
    paths = sorted(SAMPLE_DATA.glob("train/*/*.jpg"))
    assert paths, "sample_data/ is missing its photos"
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]


@pytest.fixture
def photos() -> list[np.ndarray]:
    return sample_photos()


def make_image_folder(root: Path, layout: dict[str, int], suffix: str = ".png") -> list[str]:
    """Write ``{"train/cat": 2, "val/dog": 1}`` worth of real photos under root; return relpaths."""
    photos, written, n = sample_photos(), [], 0
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rel = f"{folder}/img_{i:02d}{suffix}"
            cv2.imwrite(str(root / rel), photos[n % len(photos)][: 96 + 8 * n, : 112])
            written.append(rel)
            n += 1
    return written


LIBRARY_WARNING = "resampled, this hurt execution time"
C_STDERR_LINE = "libpng warning: iCCP: known incorrect sRGB profile"


def make_noisy(monkeypatch, module, name: str) -> None:
    """``module.name`` emits, on every call, a Python warning and a line on fd 2 (as a C library does)
    before doing its work: what the run, verify and preview must catch instead of printing."""
    import warnings

    real = getattr(module, name)

    def noisy(*args, **kwargs):
        warnings.warn(LIBRARY_WARNING, UserWarning, stacklevel=1)
        os.write(2, f"{C_STDERR_LINE}\n".encode())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, noisy)


def write_config(path: Path, **keys) -> Path:
    keys.setdefault("input", "data")
    keys.setdefault("output", "out")
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    return path


def invoke(*args: str):
    """Run the CLI in-process; exceptions are not swallowed, so a traceback fails the test."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """tmp_path/data: train/{cat,dog} x 3 PNGs and val/{cat,dog} x 1 PNG, from real photos."""
    make_image_folder(tmp_path / "data", {"train/cat": 3, "train/dog": 3, "val/cat": 1, "val/dog": 1})
    return tmp_path / "data"


def without_root_powers() -> list[str]:
    """A command prefix under which chmod 000 really denies access (root ignores it otherwise)."""
    if os.geteuid() != 0:
        return []
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
            "--"]
    probe = subprocess.run([*drop, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here")
    return drop
