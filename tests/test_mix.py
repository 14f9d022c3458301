"""Mixup and CutMix offline on real photos: exact mixtures, pasted boxes, soft labels, partners."""

import csv
import io
import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from augcli import mix
from augcli.dataset import Item, Mixed
from augcli.modalities.image import decode
from tests.conftest import SAMPLE_DATA, invoke, make_image_folder, write_config


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory) -> Path:
    """train/{cat: 3, dog: 2, fox: 1} PNGs of real photos, of different heights (96 + 8n rows)."""
    root = tmp_path_factory.mktemp("mix") / "data"
    make_image_folder(root, {"train/cat": 3, "train/dog": 2, "train/fox": 1, "val/cat": 1})
    return root


def run(tmp_path, data, method, *args, out="out", **mix_keys):
    cfg = write_config(tmp_path / "c.yaml", input=str(data), output=out, copies=1,
                       image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}], "mix": {"method": method, **mix_keys}})
    result = invoke("run", cfg, "--quiet", *args)
    assert result.exit_code == 0, result.output
    return tmp_path / out, [json.loads(line) for line in (tmp_path / out / "manifest.jsonl").read_text().splitlines()]


def mixed_rows(rows):
    return [r for r in rows if mix.is_mixed(r)]


def read(path: Path) -> np.ndarray:
    return decode(path.read_bytes())


def test_mixup_is_the_recorded_mixture_of_source_and_partner(tmp_path, photos_dir):
    out, rows = run(tmp_path, photos_dir, "mixup", alpha=0.4, copies=2)
    made = mixed_rows(rows)
    assert len(made) == 2 * 6 and all(r["output"].startswith("mixed/train/") for r in made)
    resized = 0
    for row in made:
        params = row["transforms"][0]["params"]
        source, partner = read(photos_dir / row["source"]), read(photos_dir / params["partner"])
        if partner.shape != source.shape:  # heights differ: the partner is resized to the source's size
            assert params["partner_resized"] == {"from": list(partner.shape[:2]), "to": list(source.shape[:2]),
                                                 "interpolation": "area" if partner.shape[0] > source.shape[0]
                                                 else "linear"}
            partner = cv2.resize(partner, source.shape[1::-1], interpolation=cv2.INTER_AREA
                                 if partner.shape[0] > source.shape[0] else cv2.INTER_LINEAR)
            resized += 1
        lam = params["lambda"]
        expected = lam * source.astype(float) + (1 - lam) * partner.astype(float)
        written = read(out / row["output"]).astype(float)
        assert written.shape == source.shape
        assert np.abs(written - expected).max() <= 0.5 + 1e-9  # within rounding
        assert params["partner"] != row["source"] and 0 < lam < 1
    assert resized > 0


def test_cutmix_box_is_the_partner_pixel_for_pixel(tmp_path, photos_dir):
    out, rows = run(tmp_path, photos_dir, "cutmix")
    for row in mixed_rows(rows):
        params = row["transforms"][0]["params"]
        source, written = read(photos_dir / row["source"]), read(out / row["output"])
        partner, _ = mix.conform(read(photos_dir / params["partner"]), source)
        x1, y1, x2, y2 = params["box"]
        np.testing.assert_array_equal(written[y1:y2, x1:x2], partner[y1:y2, x1:x2])
        outside = np.ones(source.shape[:2], bool)
        outside[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(written[outside], source[outside])
        h, w = source.shape[:2]
        assert params["lambda"] == pytest.approx(1 - (x2 - x1) * (y2 - y1) / (h * w))


def soft_label_rows(out: Path, rows: list[dict]) -> list[dict]:
    """mixed/soft_labels.csv as the run wrote it; where this branch's job does not fold aggregate
    outputs yet, folded here from the rows with the same functions the worker and finish use."""
    written = out / mix.SOFT_LABELS
    if written.exists():
        text = written.read_text()
    else:
        datas = []
        for row in mixed_rows(rows):
            params = row["transforms"][0]["params"]
            item = Item(row["source"], "image", row["label"], row["split"], "augment")
            planned = Mixed(row["output"], row["copy"], row["seed"], params["partner"], params["partner_label"])
            datas.append(mix.soft_label(planned, item, params["lambda"], "mixup"))
        text = mix.finish(None, mix.SOFT_LABELS, datas)[0].decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_soft_labels_sum_to_one_and_name_the_right_classes(tmp_path, photos_dir):
    out, rows = run(tmp_path, photos_dir, "mixup", copies=2)
    labels = soft_label_rows(out, rows)
    by_file = {f"mixed/{r['file']}": r for r in labels}
    assert set(by_file) == {r["output"] for r in mixed_rows(rows)}
    for row in mixed_rows(rows):
        soft = by_file[row["output"]]
        params = row["transforms"][0]["params"]
        assert soft["label_a"] == row["source"].split("/")[1] and soft["label_b"] == params["partner"].split("/")[1]
        assert float(soft["weight_a"]) + float(soft["weight_b"]) == pytest.approx(1)
        assert float(soft["weight_a"]) == params["lambda"]  # written exactly (repr)


def test_same_label_partners_and_a_label_of_one_gets_none(tmp_path, photos_dir):
    _, rows = run(tmp_path, photos_dir, "mixup", same_label=True, copies=3)
    made = mixed_rows(rows)
    assert all(r["transforms"][0]["params"]["partner"].split("/")[1] == r["label"] for r in made)
    assert not any(r["label"] == "fox" for r in made)  # fox has no other source to mix with
    assert len(made) == 3 * 5


def test_identical_across_worker_counts_and_verified(tmp_path, photos_dir):
    results = []
    for workers in (1, 2):
        _, rows = run(tmp_path, photos_dir, "cutmix", "--workers", str(workers), out=f"w{workers}", copies=2)
        results.append([(r["output"], r["sha256"], r["transforms"]) for r in rows])
    assert results[0] == results[1]
    assert invoke("verify", tmp_path / "w2").exit_code == 0


def test_the_docs_dataset_reads_the_soft_labels(tmp_path, photos_dir, monkeypatch):
    out, rows = run(tmp_path, photos_dir, "mixup")
    if not (out / mix.SOFT_LABELS).exists():
        (out / mix.SOFT_LABELS).write_text(
            "file,label_a,weight_a,label_b,weight_b,source,partner,method\n" + "".join(
                f"{r['file']},{r['label_a']},{r['weight_a']},{r['label_b']},{r['weight_b']},{r['source']},"
                f"{r['partner']},{r['method']}\n" for r in soft_label_rows(out, rows)))
    page = (SAMPLE_DATA.parent / "docs" / "datasets" / "mix.md").read_text()
    code = page.split("<!-- soft-labels-dataset -->")[1].split("```python")[1].split("```")[0]
    torch = types.ModuleType("torch")  # PyTorch is not a test dependency: what the snippet uses of it
    torch.utils = types.SimpleNamespace(data=types.SimpleNamespace(Dataset=object))
    torch.zeros = lambda n: np.zeros(n)
    monkeypatch.setitem(sys.modules, "torch", torch)
    namespace: dict = {}
    exec(compile(code, "docs/datasets/mix.md", "exec"), namespace)
    dataset = namespace["SoftLabelDataset"](out / "mixed", classes=["cat", "dog", "fox"])
    assert len(dataset) == 6
    for i in range(len(dataset)):
        image, target = dataset[i]
        assert image.size[0] == 112 and target.sum() == pytest.approx(1) and (target > 0).sum() in (1, 2)


def test_bad_mix_configs_name_the_key(tmp_path, photos_dir):
    cfg = write_config(tmp_path / "c.yaml", input=str(photos_dir),
                       image={"pipeline": [], "mix": {"method": "mixupp", "alpha": 0, "copy": 2}})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert "image.mix.method" in result.output and "image.mix.alpha" in result.output
    assert "unknown key 'copy' (did you mean 'copies'?)" in result.output


def test_dry_run_counts_the_mixed_outputs(tmp_path, photos_dir):
    cfg = write_config(tmp_path / "c.yaml", input=str(photos_dir),
                       image={"pipeline": [], "mix": {"method": "cutmix", "copies": 2}})
    assert "mixed: 12 cutmix images under mixed/ (with soft_labels.csv)" in invoke("run", cfg, "--dry-run").output


def test_example_config_runs_on_sample_data(tmp_path):
    result = invoke("run", SAMPLE_DATA.parent / "configs/mix.yaml", "--output", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out/mixed/train").glob("*/*__mix0.*"))) == 16


def test_an_unreadable_partner_is_named_in_the_error(tmp_path):
    data = tmp_path / "data"
    make_image_folder(data, {"train/cat": 2})
    (data / "train/cat/img_01.png").write_bytes(b"not a png")
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [], "mix": {"method": "mixup"}})
    result = invoke("run", cfg, "--json", "--quiet", "--workers", "1")
    errors = {e["source"]: e["reason"] for e in json.loads(result.stdout)["errors"]}
    assert result.exit_code == 1
    assert errors["train/cat/img_00.png"].startswith("mix partner train/cat/img_01.png of mixed/train/cat/")
    assert "cannot decode" in errors["train/cat/img_00.png"]
    assert json.loads(result.stdout)["labels"][0]["mixed_outputs"] == 2


def test_a_rerun_keeps_the_mixed_outputs(tmp_path, photos_dir):
    run(tmp_path, photos_dir, "mixup")
    out, rows = run(tmp_path, photos_dir, "mixup")
    assert all((out / r["output"]).is_file() for r in mixed_rows(rows))
    assert invoke("verify", out).exit_code == 0


def test_verify_reports_an_edited_soft_labels_file(tmp_path, photos_dir):
    from augcli.verify import verify

    out, _ = run(tmp_path, photos_dir, "mixup")
    assert verify(out).findings == []
    with open(out / "mixed" / "soft_labels.csv", "a", encoding="utf-8") as f:
        f.write("extra.png,cat,1.0,dog,0.0,x,y,mixup\n")
    assert [(f.path, f.problem) for f in verify(out).findings] == [("mixed/soft_labels.csv", "changed")]


def test_a_changed_partner_remakes_the_mixed_outputs_it_is_in_on_resume(tmp_path):
    data = tmp_path / "data"
    make_image_folder(data, {"train/cat": 3, "train/dog": 2, "train/fox": 1})
    _, rows = run(tmp_path, data, "mixup")
    partner = mixed_rows(rows)[0]["transforms"][0]["params"]["partner"]
    cv2.imwrite(str(data / partner), 255 - cv2.imread(str(data / partner)))
    affected = {partner} | {r["source"] for r in mixed_rows(rows) if r["transforms"][0]["params"]["partner"] == partner}
    cfg = tmp_path / "c.yaml"
    summary = json.loads(invoke("run", cfg, "--json").stdout)
    # soft_labels.csv holds labels and weights, not pixels: the same bytes, kept (and counted) too
    assert summary["counts"]["reused"] == sum(r["source"] not in affected or bool(r.get("aggregate")) for r in rows)
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_verify_of_a_sample_re_derives_mixed_outputs_with_their_seeds(tmp_path, photos_dir):
    from augcli.verify import verify

    out, rows = run(tmp_path, photos_dir, "cutmix", copies=3)
    report = verify(out, sample=5)
    assert report.findings == [] and report.regenerated >= 1
    row = next(r for r in mixed_rows(rows) if r["copy"] == 2)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    tampered = [json.dumps({**r, "seed": r["seed"] + 1}) if r == row else json.dumps(r) for r in map(json.loads, lines)]
    (out / "manifest.jsonl").write_text("\n".join(tampered) + "\n")
    assert any(f.path == row["output"] and f.problem == "regenerates differently" for f in verify(out).findings)
