"""Big tables made in row ranges on every core (issue 9 item 3), on real sentences with line
breaks, quotes, commas and non-ASCII text: the same bytes however the table is cut, whatever the
number of workers, after a kill -9, and verify passes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from augcli import tables
from augcli.journal import RUN_PREFIX, STATE_DIR
from augcli.manifest import read_manifest
from tests.conftest import invoke, write_config
from tests.faults.procs import run_until

FORTUNES = Path("/usr/share/games/fortunes")
PIPELINE = [{"RandomWordAug": {"action": "swap"}}, {"OneOf": {"transforms": [{"KeyboardAug": {}},
                                                                            {"RandomDeletion": {}}]}}]
N_ROWS = 3000
ACCENTS = ["", " — «café», naïve", ', "quoted", too', " 東京", ""]


def sentences() -> list[str]:
    found = []
    for path in sorted(FORTUNES.glob("*")):
        if path.suffix or not path.is_file():
            continue
        found += [s.strip("\n") for s in path.read_text(encoding="utf-8", errors="replace").split("\n%\n")]
    return [s for s in found if s.strip()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """train/reviews.csv and train/reviews.jsonl: 3,000 rows of fortunes (many of several lines)."""
    found = sentences()
    if len(found) < 50:
        pytest.skip("Debian's fortunes-min is not installed (/usr/share/games/fortunes)")
    root = tmp_path_factory.mktemp("tables")
    folder = root / "data" / "train"
    folder.mkdir(parents=True)
    rows = [(f"{found[i % len(found)]}{ACCENTS[i % len(ACCENTS)]}", ["pos", "neg", "neg", "neu"][i % 4], str(i))
            for i in range(N_ROWS)]
    with open(folder / "reviews.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "id"])
        writer.writerows(rows)
    with open(folder / "reviews.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t, "label": label, "id": int(i)}, ensure_ascii=False) + "\n"
                     for t, label, i in rows)
    assert sum(1 for t, _, _ in rows if "\n" in t) > 300  # quoted line breaks cross many rows
    return root


OPTIONS = {
    "plain": {"copies": 2},
    "dropping": {"copies": 1, "keep_originals": False, "balance": {"target": "max"},
                 "text": {"drop_unchanged": True}},
}


def run_table(root: Path, name: str, include: str, options: dict, *args: str) -> Path:
    text = {"include": [include], "pipeline": PIPELINE, **options.get("text", {})}
    cfg = write_config(root / f"{name}.yaml", output=name, **{**options, "text": text})
    result = invoke("run", cfg, *args)
    assert result.exit_code == 0, result.output
    return root / name


@pytest.mark.parametrize("include", ["**/*.csv", "**/*.jsonl"])
@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_ranges_and_workers_give_the_bytes_of_one_task(data, include, options, monkeypatch):
    kind = include.rsplit(".", 1)[1] + "-" + ("drop" if "balance" in options else "plain")
    monkeypatch.setattr(tables, "RANGE_ROWS", 10 * N_ROWS)  # one task, as before tables were cut
    whole = run_table(data, f"whole-{kind}", include, options, "--workers", "1")
    monkeypatch.setattr(tables, "RANGE_ROWS", 700)  # five ranges
    one = run_table(data, f"ranges1-{kind}", include, options, "--workers", "1")
    two = run_table(data, f"ranges2-{kind}", include, options, "--workers", "2")
    rows = read_manifest(whole / "manifest.jsonl")
    (table,) = {r["output"] for r in rows}
    assert len(rows) > N_ROWS and [r["row"] for r in rows] == list(range(len(rows)))
    for out in (one, two):
        assert (out / table).read_bytes() == (whole / table).read_bytes()
        assert (out / "manifest.jsonl").read_bytes() == (whole / "manifest.jsonl").read_bytes()
        assert not (out / tables.PARTS_DIR).exists()
        assert json.loads((out / "run.json").read_text())["counts"]["sources"] == 1
    journal = (two / STATE_DIR / "journal.jsonl").read_text()
    assert journal.count('"task"') == 5 and journal == (one / STATE_DIR / "journal.jsonl").read_text()
    assert invoke("verify", two).exit_code == 0
    again = invoke("run", data / f"ranges2-{kind}.yaml", "--json", "--workers", "2")
    counts = json.loads(again.output)["counts"]
    assert counts["reused"] == len(rows) and counts["outputs_written"] == 0
    assert (two / table).read_bytes() == (whole / table).read_bytes()
    # the manifest of reused rows comes from the journal: the rows' places in the joined table are in it
    assert (two / "manifest.jsonl").read_bytes() == (whole / "manifest.jsonl").read_bytes()


def test_a_table_that_does_not_read_is_one_error_and_no_file(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    lines = ["text,label"] + [f"row {i},a" for i in range(300)]
    lines[250] = "row 250,a,extra"
    (folder / "bad.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tables, "RANGE_ROWS", 100)
    cfg = write_config(tmp_path / "c.yaml", text={"include": ["*.csv"], "pipeline": PIPELINE})
    assert invoke("run", cfg, "--workers", "1").exit_code == 1
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["errors"] == [{"source": "bad.csv", "reason": "row 251 has 3 cells, the header 2"}]
    assert not (tmp_path / "out" / "bad.csv").exists() and not (tmp_path / "out" / tables.PARTS_DIR).exists()


def start(cfg: Path, range_rows: int) -> subprocess.Popen:
    code = (f"import augcli.tables; augcli.tables.RANGE_ROWS = {range_rows}; "
            "from augcli.cli import cli; cli()")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "run", str(cfg), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 of a session")
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_a_run_killed_mid_table_resumes_to_the_same_bytes(data, monkeypatch, stop):
    options = {"copies": 3}
    monkeypatch.setattr(tables, "RANGE_ROWS", 10 * N_ROWS)
    whole = run_table(data, "kill-whole", "**/*.csv", options, "--workers", "1")
    name = f"kill-{stop.name}"
    cfg = write_config(data / f"{name}.yaml", output=name, copies=3,
                       text={"include": ["**/*.csv"], "pipeline": PIPELINE})
    out = data / name
    proc = start(cfg, 200)  # 15 ranges
    def ranges_done() -> int:
        return sum(p.read_bytes().count(b'{"task":') for p in (out / STATE_DIR).glob(RUN_PREFIX + "*"))

    # Stopped (SIGSTOP) once 3 ranges are done, so the kill lands mid-table however fast the machine.
    run_until(proc.pid, reached=lambda: ranges_done() >= 3, ended=lambda: proc.poll() is not None, timeout=90,
              head_start=lambda: ranges_done() >= 1)
    if stop == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    else:  # Ctrl-C: the count says files, not the rows recorded in the table's parts (it said 2400 files)
        os.kill(proc.pid, signal.SIGINT)
        os.killpg(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and err == f"interrupted by SIGINT: 0 files are in {out} and recorded; " \
            "run the same command again to resume\n"
    assert not (out / "train" / "reviews.csv").exists() and list((out / tables.PARTS_DIR).rglob("*.part"))
    proc = start(cfg, 200)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (out / "train" / "reviews.csv").read_bytes() == (whole / "train" / "reviews.csv").read_bytes()
    assert (out / "manifest.jsonl").read_bytes() == (whole / "manifest.jsonl").read_bytes()
    assert invoke("verify", out).exit_code == 0


def test_rows_are_counted_by_the_csv_module_and_ranges_cover_them(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:  # a BOM, quoted line breaks and commas
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([[f"line one\nline two, «{i}»", "a"] for i in range(10)])
    assert tables.count_rows(str(path), "utf-8", ",") == 10
    monkeypatch.setattr(tables, "RANGE_ROWS", 3)
    assert tables.row_ranges(str(path), "utf-8", ",") == [(0, 2), (2, 5), (5, 7), (7, None)]
    assert tables.row_ranges(str(path), "utf-16", ",") is None  # every piece would start with a BOM
    assert tables.row_ranges(str(tmp_path / "missing.csv"), "utf-8", ",") is None
