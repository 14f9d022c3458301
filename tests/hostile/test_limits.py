"""Hostile inputs of issue 20, items 3, 4, 5, 12 and 13, one regression test each, named after the item:
decoded-size limits, a closed stdout, version-like tokens, library messages that said nothing, and
a progress bar that counts what is written."""

from __future__ import annotations

import re

from tests.conftest import invoke, write_config

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
