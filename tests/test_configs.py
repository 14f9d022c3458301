"""Every example config in configs/ runs on the bundled sample_data/ and lists every file it writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from augcli.manifest import MANIFEST_NAME, is_own_file, read_manifest
from tests.conftest import invoke

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_there_are_example_configs():
    assert {"quickstart.yaml", "text_csv.yaml"} <= {c.name for c in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_example_config_runs_and_lists_every_output(config, tmp_path):
    # One copy and one worker keep the suite fast; every step, path and include of the config is used.
    out = tmp_path / "out"
    result = invoke("run", config, "--output", out, "--copies", "1", "--workers", "1", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, summary["errors"]
    assert summary["counts"]["outputs_written"] > 0
    rows = list(read_manifest(out / MANIFEST_NAME))
    listed = {row["output"] for row in rows}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    on_disk = {p for p in on_disk if not is_own_file(p)}  # manifest, run.json, lock and journal
    assert on_disk == listed
    for row in rows:
        if row.get("row") is None and row.get("line") is None:  # file rows (table and line rows hash their sample)
            assert hashlib.sha256((out / row["output"]).read_bytes()).hexdigest() == row["sha256"], row["output"]
