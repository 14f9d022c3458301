"""The manifest is a contract: its rows are pinned by a golden file."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from augcli.manifest import MAX_INLINE_ARRAY, plain, read_manifest
from tests.conftest import invoke, make_image_folder, write_config

GOLDEN = Path(__file__).parent / "golden" / "manifest_v1.jsonl"


def test_plain_makes_numpy_values_json():
    big = np.arange(MAX_INLINE_ARRAY + 1, dtype=np.float32)
    value = plain({"a": np.float32(0.5), "b": np.int64(3), "m": np.eye(2), "t": (1, 2), "big": big,
                   "nan": float("nan"), "flag": np.bool_(True)})
    assert value["a"] == 0.5 and value["b"] == 3 and value["m"] == [[1.0, 0.0], [0.0, 1.0]]
    assert value["t"] == [1, 2] and value["nan"] == "nan" and value["flag"] is True
    assert value["big"]["ndarray"]["shape"] == [MAX_INLINE_ARRAY + 1]
    assert value["big"]["ndarray"]["dtype"] == "float32" and len(value["big"]["ndarray"]["sha256"]) == 64
    json.dumps(value)


def test_manifest_matches_the_golden_file(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 1, "val/cat": 1})
    pipeline = [{"HorizontalFlip": {"p": 1}}, {"RandomBrightnessContrast": {"p": 1.0}}]
    cfg = write_config(tmp_path / "c.yaml", seed=3, copies=2, image={"pipeline": pipeline})
    assert invoke("run", cfg, "--workers", "1").exit_code == 0
    rows = read_manifest(tmp_path / "out" / "manifest.jsonl")
    for row in rows:  # encoder bytes may differ between OpenCV builds; hashes are checked elsewhere
        assert len(row.pop("sha256")) == 64 and len(row.pop("source_sha256")) == 64
    if os.environ.get("UPDATE_GOLDEN"):  # after a deliberate change: UPDATE_GOLDEN=1 pytest tests/test_manifest.py
        GOLDEN.write_text("".join(json.dumps(row) + "\n" for row in rows))
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert rows == golden


@pytest.mark.parametrize("value", [
    {"a": "é\n\"x\\", "b": [1, 2.5, None, True, False, -0.0, 1e300, 10**30, float("nan"), float("-inf")]},
    "a string", [], {}, 3, {"k": {"n": [{"m": "\u2028\x00\ud800"}]}}, {"2": 1, "1": [[], {}]},
])
def test_compact_json_writes_what_json_dumps_writes(value):
    import json

    from augcli.manifest import compact_json

    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        compact_json({"a": {1}})
