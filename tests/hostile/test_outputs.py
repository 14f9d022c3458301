"""Hostile-user catalogue, issue 20 items 6-11: what a run writes, counts and records must be true."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from augcli.manifest import MANIFEST_NAME, RUN_NAME, STATE_DIR, read_manifest
from tests.conftest import SAMPLE_DATA, invoke

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of an output but augcli's own state and run.json (which records each run): mtime_ns, bytes."""
    return {p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(out.rglob("*")) if p.is_file()
            and not p.relative_to(out).as_posix().startswith(STATE_DIR + "/") and p.name != RUN_NAME}


def _voc_config(tmp_path: Path) -> Path:
    config = tmp_path / "voc.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(SAMPLE_DATA / "detection" / "voc"), "output": str(tmp_path / "unused"), "seed": 3,
        "copies": 2, "image": {"include": ["**/*.jpg"], "annotations": {"format": "voc"},
                               "pipeline": [{"HorizontalFlip": {"p": 0.5}}]}}))
    return config


# ---- item 6: a no-op re-run into a complete output writes nothing -------------------------------------------

@pytest.mark.parametrize("name", ["quickstart", "detection_coco", "detection_yolo", "mix", "voc"])
def test_item6_noop_rerun_rewrites_nothing(name, tmp_path):
    config = _voc_config(tmp_path) if name == "voc" else CONFIGS / f"{name}.yaml"
    out = tmp_path / "out"
    args = ("run", config, "--output", out, "--copies", "1", "--workers", "1", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    aggregates = [r["output"] for r in read_manifest(out / MANIFEST_NAME) if r.get("aggregate")]
    assert aggregates  # metadata.csv, COCO JSONs, data.yaml, soft_labels.csv, ImageSets lists
    before = _files(out)
    again = invoke(*args)
    summary = json.loads(again.stdout)
    assert again.exit_code == 0, summary["errors"]
    assert _files(out) == before  # bytes and mtime_ns of every file, manifest.jsonl included
    counts = summary["counts"]
    assert counts["files_written"] == counts["outputs_written"] == counts["originals_written"] == 0
    assert counts["reused"] == len(read_manifest(out / MANIFEST_NAME))
    text = invoke("run", config, "--output", out, "--copies", "1", "--workers", "1").stdout
    assert "0 augmented + 0 originals/copies = 0 files" in text
