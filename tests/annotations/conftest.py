"""Annotated datasets for the tests: copies of sample_data/detection/ (real photos, hand-traced objects)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import augcli
from augcli.manifest import read_manifest

DETECTION = Path(__file__).resolve().parents[2] / "sample_data" / "detection"


def copy_sample(name: str, dest: Path) -> Path:
    shutil.copytree(DETECTION / name, dest)
    return dest


def run(tmp_path: Path, data: Path, pipeline: list, annotations: dict | None = None, out: str = "out", **keys):
    """augcli.run on ``data`` in-process; returns (result, output folder, manifest rows by output)."""
    config = {"input": str(data), "output": str(tmp_path / out), "seed": 3, "copies": 2, "workers": 1,
              "image": {"pipeline": pipeline, **({"annotations": annotations} if annotations else {})}, **keys}
    result = augcli.run(config)
    rows = {r["output"]: r for r in read_manifest(tmp_path / out / "manifest.jsonl")}
    return result, tmp_path / out, rows


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def coco_data(tmp_path: Path) -> Path:
    return copy_sample("coco", tmp_path / "coco")


@pytest.fixture
def yolo_data(tmp_path: Path) -> Path:
    return copy_sample("yolo", tmp_path / "yolo")


@pytest.fixture
def yolo_seg_data(tmp_path: Path) -> Path:
    return copy_sample("yolo_seg", tmp_path / "yolo_seg")


@pytest.fixture
def voc_data(tmp_path: Path) -> Path:
    return copy_sample("voc", tmp_path / "voc")


@pytest.fixture
def masks_data(tmp_path: Path) -> Path:
    return copy_sample("masks", tmp_path / "masks")
