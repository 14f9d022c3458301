"""End-to-end text runs on the real sentences and tricky CSV of sample_data/."""

import csv
import hashlib
import json
import re
import shutil

import pytest

from augcli.manifest import is_own_file, read_manifest
from tests.conftest import SAMPLE_DATA, invoke, make_image_folder, write_config

PIPELINE = [
    {"RandomWordAug": {"action": "swap"}},
    {"OneOf": {"transforms": [{"KeyboardAug": {}}, {"RandomDeletion": {}}]}},
]


@pytest.fixture
def corpus(tmp_path):
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "train" / "reviews.csv", data)
    shutil.copy(SAMPLE_DATA / "train" / "quotes.txt", data)
    return data


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_csv_round_trips_every_other_cell(tmp_path, corpus):
    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"pipeline": PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    source, output = read_csv(corpus / "reviews.csv"), read_csv(tmp_path / "out" / "train" / "reviews.csv")
    assert output[0] == [*source[0], "aug_source_row", "aug_copy"]
    body = output[1:]
    assert len(body) == (len(source) - 1) * (2 + 1)
    text_col = source[0].index("text")
    for row in body:
        src = source[1 + int(row[-2])]
        assert [c for i, c in enumerate(row[:-2]) if i != text_col] == [c for i, c in enumerate(src) if i != text_col]
    originals = [row for row in body if row[-1] == ""]
    assert [row[:-2] for row in originals] == source[1:]  # quotes, commas, newline, non-ASCII exact
    assert any(row[text_col] != source[1 + int(row[-2])][text_col] for row in body if row[-1] != "")
    rows = [r for r in read_manifest(tmp_path / "out" / "manifest.jsonl") if r["output"] == "train/reviews.csv"]
    assert [r["row"] for r in rows] == list(range(len(body)))
    for r, out_row in zip(rows, body, strict=True):
        assert r["sha256"] == hashlib.sha256(out_row[text_col].encode()).hexdigest()
        assert r["label"] == out_row[source[0].index("label")] and r["source_row"] == int(out_row[-2])


def test_one_and_two_workers_give_identical_bytes_and_seed_matters(tmp_path, corpus):
    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"unit": "line", "pipeline": PIPELINE})
    for name, extra in [("w1", ["--workers", "1"]), ("w2", ["--workers", "2"]), ("s2", ["--seed", "2"])]:
        assert invoke("run", cfg, "--output", tmp_path / name, *extra).exit_code == 0
    files = ["train/reviews.csv", "train/quotes__aug0.txt", "train/quotes__aug1.txt", "manifest.jsonl"]
    for name in files:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    assert (tmp_path / "w1" / files[1]).read_bytes() != (tmp_path / "s2" / files[1]).read_bytes()


def test_line_unit_keeps_line_order_and_blank_lines(tmp_path, corpus):
    (corpus / "quotes.txt").write_text("First line here is long enough.\n\nThird line, after a blank one.\n")
    cfg = write_config(tmp_path / "c.yaml", text={"unit": "line", "pipeline": [{"RandomSwap": {"alpha": 0.5}}]})
    assert invoke("run", cfg).exit_code == 0
    lines = (tmp_path / "out" / "train" / "quotes__aug0.txt").read_text().split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
    assert sorted(re.findall(r"\w+", lines[0])) == sorted(re.findall(r"\w+", "First line here is long enough."))
    assert sorted(re.findall(r"\w+", lines[2])) == sorted(re.findall(r"\w+", "Third line, after a blank one."))
    assert lines[0].endswith(".") and lines[2].count(",") == 1  # punctuation stays where it was


def test_jsonl_keeps_other_fields(tmp_path, corpus):
    records = [{"id": i, "text": line, "meta": {"lang": "en", "tags": ["x"]}, "label": i % 2}
               for i, line in enumerate((corpus / "quotes.txt").read_text().splitlines()[:5])]
    (corpus / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = write_config(tmp_path / "c.yaml", keep_originals=False, text={"pipeline": PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    out = [json.loads(line) for line in (tmp_path / "out" / "train" / "d__aug.jsonl").read_text().splitlines()]
    assert len(out) == 5
    for row in out:
        src = records[row["aug_source_row"]]
        assert {k: v for k, v in row.items() if k not in ("text", "aug_source_row", "aug_copy")} == {
            k: v for k, v in src.items() if k != "text"}
        assert row["aug_copy"] == 0


@pytest.mark.parametrize(("value", "shown"), [(5, "5"), (None, "null"), (["a", "b"], '["a", "b"]')])
def test_a_jsonl_text_field_that_is_not_a_string_is_an_error_naming_the_line(tmp_path, corpus, value, shown):
    """It was written back as a string ("5", "", "['a', 'b']"), in the original rows too."""
    lines = [{"text": "A sentence to keep.", "id": 1}, {"text": value, "id": 2}]
    (corpus / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    cfg = write_config(tmp_path / "c.yaml", text={"include": ["**/*.jsonl"], "pipeline": PIPELINE})
    result = invoke("run", cfg, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"] == [{"source": "train/d.jsonl", "reason": (
        f"line 2: field 'text' holds {shown}, not a string: make it text (or remove the line) or exclude the file")}]
    assert not (tmp_path / "out" / "train" / "d.jsonl").exists()


def test_undecodable_file_is_an_error_with_its_byte_offset(tmp_path, corpus):
    (corpus / "latin1.txt").write_bytes("Une phrase très française.".encode("latin-1"))
    cfg = write_config(tmp_path / "c.yaml", text={"pipeline": PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 1
    assert "failed: train/latin1.txt: not valid utf-8 text at byte offset 13 (byte 0xe8)" in result.output
    assert (tmp_path / "out" / "train" / "reviews.csv").exists()
    assert (tmp_path / "out" / "train" / "quotes__aug0.txt").exists()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["counts"]["failed"] == 1


def test_drop_unchanged_is_counted(tmp_path, corpus):
    cfg = write_config(tmp_path / "c.yaml", copies=3, keep_originals=False,
                       text={"drop_unchanged": True, "pipeline": [{"RandomSwap": {"alpha": 0.1}}],
                             "protect": [r"\w+"]})  # every word protected: nothing can change
    result = invoke("run", cfg, "--json")
    summary = json.loads(result.stdout)
    assert summary["counts"]["dropped_unchanged"] == 3 * 20 + 3  # 20 table rows x 3, quotes.txt x 3
    assert summary["counts"]["outputs_written"] == 1  # the table, header only, listed as a file row


def test_text_outputs_verify_and_a_changed_table_is_named(tmp_path, corpus):
    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"unit": "line", "pipeline": PIPELINE})
    assert invoke("run", cfg).exit_code == 0
    assert invoke("verify", tmp_path / "out").exit_code == 0
    table = tmp_path / "out" / "train" / "reviews.csv"
    table.write_text(table.read_text().replace("wit", "wot", 1))
    result = invoke("verify", tmp_path / "out")
    assert result.exit_code == 1 and "changed: train/reviews.csv" in result.output


def test_transforms_text_lists_nlpaug_and_eda_steps():
    listing = {e["name"]: e for e in json.loads(invoke("transforms", "text", "--json").output)["text"]}
    assert listing["SynonymAug"]["params"]["aug_p"] == {"default": 0.3}
    assert listing["EDA"]["params"] == {"alpha_sr": {"default": 0.1}, "alpha_ri": {"default": 0.1},
                                        "alpha_rs": {"default": 0.1}, "p_rd": {"default": 0.1}}


def test_empty_text_outputs_are_listed_and_verify(tmp_path, corpus):
    (corpus / "header_only.csv").write_text("id,text,label\n")
    (corpus / "empty.jsonl").write_text("")
    (corpus / "empty.txt").write_text("")
    (corpus / "blank.txt").write_text("\n\n  \n")
    for unit in ("line", "file"):
        out = tmp_path / f"out_{unit}"
        cfg = write_config(tmp_path / f"{unit}.yaml", copies=2, output=out.name, workers=1,
                           text={"unit": unit, "pipeline": PIPELINE})
        assert invoke("run", cfg).exit_code == 0
        rows = read_manifest(out / "manifest.jsonl")
        listed = {r["output"] for r in rows}
        on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
        assert {p for p in on_disk if not is_own_file(p)} == listed
        for name in ["train/header_only.csv", "train/empty.jsonl", "train/empty__aug1.txt", "train/blank__aug0.txt"]:
            (row,) = [r for r in rows if r["output"] == name and r["copy"] is not None]
            assert row["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
            assert row.get("samples", 0) == 0 or unit == "file"
        assert (out / "train" / "blank__aug0.txt").read_text() == "\n\n  \n"
        assert invoke("verify", out).exit_code == 0


def test_cells_with_newlines_quotes_tabs_and_commas_round_trip_and_keep_them_when_augmented(tmp_path, corpus):
    texts = [row[1] for row in read_csv(corpus / "reviews.csv")[1:]]
    tricky = [texts[0], texts[1], 'Tabs\there, "quotes", commas, and\r\na CRLF inside one cell.']
    with open(corpus / "t.tsv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t").writerows([["id", "text"], *([f"r{i}", t] for i, t in enumerate(tricky))])
    (corpus / "j.jsonl").write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(tricky)))
    pipeline = [{"RandomSwap": {"alpha": 0.3}}, {"RandomWordAug": {"action": "delete", "aug_p": 0.2}}]
    cfg = write_config(tmp_path / "c.yaml", copies=2, workers=1, text={"pipeline": pipeline})
    assert invoke("run", cfg).exit_code == 0
    with open(tmp_path / "out" / "train" / "t.tsv", encoding="utf-8", newline="") as f:
        tsv = [(r[1], int(r[2]), r[3]) for r in list(csv.reader(f, delimiter="\t"))[1:]]
    jsonl = [(r["text"], r["aug_source_row"], r["aug_copy"]) for r in
             map(json.loads, (tmp_path / "out" / "train" / "j.jsonl").read_text().splitlines())]
    for rows in (tsv, jsonl):
        assert len(rows) == 3 * len(tricky)
        assert sum(text != tricky[row] for text, row, _ in rows) >= len(tricky)  # copies changed
        for text, source_row, copy in rows:
            original = tricky[source_row]
            if copy in ("", None):
                assert text == original  # exact: quotes, tabs, CR LF and all
            for mark in ("\n", "\r\n", '"', "\u20ac"):  # never touched by a word step
                assert text.count(mark) == original.count(mark), (mark, text)
            assert text.count("\t") <= original.count("\t")  # a tab is a separator a deletion may take


@pytest.mark.parametrize("step", [{"SynonymAug": {"aug_p": 0.4}}, {"RandomWordAug": {"action": "delete"}},
                                  {"RandomInsertion": {"alpha": 0.2}}, {"KeyboardAug": {}}],
                         ids=lambda s: next(iter(s)))
def test_manifest_offsets_rebuild_every_output_cell_from_its_source(tmp_path, corpus, step):
    from augcli.modalities.text_tokens import tokenize
    from tests.modalities.test_text_spans import rebuild

    cfg = write_config(tmp_path / "c.yaml", copies=2, workers=1, text={"pipeline": [step]})
    assert invoke("run", cfg).exit_code == 0
    source = read_csv(corpus / "reviews.csv")
    output = read_csv(tmp_path / "out" / "train" / "reviews.csv")
    changed = 0
    for row in read_manifest(tmp_path / "out" / "manifest.jsonl"):
        if row["output"] != "train/reviews.csv" or row["copy"] is None:
            continue
        before, after = source[1 + row["source_row"]][1], output[1 + row["row"]][1]
        changes = [c for t in row["transforms"] for c in t["params"].get("changes", [])]
        assert rebuild(before, changes) == after  # every character outside the recorded spans is the source's
        for change in changes:
            if change["action"] != "insert":
                assert [t.text for t in tokenize(before) if t.start == change["start"]] == [change["from"]]
        changed += after != before
    assert changed >= 10


def test_the_summary_counts_samples_and_the_files_that_hold_them(tmp_path, corpus):
    """A table's rows are samples of their own: the summary said '= N files' for N rows in one file."""
    def files_on_disk(out):
        return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                      if p.is_file() and ".augcli" not in p.parts and p.name not in ("manifest.jsonl", "run.json"))

    cfg = write_config(tmp_path / "c.yaml", copies=2, text={"include": ["**/*.csv"], "pipeline": PIPELINE})
    result = invoke("run", cfg)
    assert result.exit_code == 0, result.output
    rows = len(read_csv(corpus / "reviews.csv")) - 1
    assert files_on_disk(tmp_path / "out") == ["train/reviews.csv"]
    assert result.output.startswith(f"complete: {2 * rows} augmented + {rows} originals/copies = {3 * rows} samples, "
                                    "1 file, in ")
    summary = json.loads(invoke("run", cfg, "--json", "--fresh").output)
    assert summary["counts"]["files_written"] == 1 and summary["counts"]["outputs_written"] == 2 * rows

    photos = tmp_path / "photos"
    make_image_folder(photos, {"train/cat": 2})
    cfg = write_config(tmp_path / "i.yaml", input="photos", output="iout", copies=2,
                       image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    result = invoke("run", cfg)
    assert len(files_on_disk(tmp_path / "iout")) == 6
    assert result.output.startswith("complete: 4 augmented + 2 originals/copies = 6 files in ")
