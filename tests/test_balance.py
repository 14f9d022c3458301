"""Class balancing on an imbalanced set of real photos: 12 cats, 5 coffees, 2 rockets."""

import itertools
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from augcli.balance import spread, table_copies
from augcli.modalities.registry import load_config
from augcli.seeding import item_seed
from tests.conftest import invoke, sample_photos, write_config

LAYOUT = {"cat": 12, "coffee": 5, "rocket": 2}


def real_photos() -> dict[str, np.ndarray]:
    """One RGB photo per label: scikit-image's own when installed, else sample_data's crops of them."""
    try:
        import skimage.data

        return {"cat": skimage.data.chelsea(), "coffee": skimage.data.coffee(), "rocket": skimage.data.rocket()}
    except ImportError:
        photos = sample_photos()
        return {label: cv2.cvtColor(photos[4 * i], cv2.COLOR_BGR2RGB) for i, label in enumerate(LAYOUT)}


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory) -> Path:
    """data/train/{cat: 12, coffee: 5, rocket: 2} PNG crops at seeded places, plus val/cat (copied)."""
    root = tmp_path_factory.mktemp("balance") / "data"
    rng = np.random.default_rng(12)
    for label, photo in real_photos().items():
        for split, count in (("train", LAYOUT[label]), ("val", 1)):
            (root / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                h, w = photo.shape[:2]
                y, x = int(rng.integers(0, h - 96)), int(rng.integers(0, w - 96))
                cv2.imwrite(str(root / split / label / f"{label}_{i:02d}.png"), photo[y : y + 96, x : x + 96, ::-1])
    return root


def run_json(tmp_path, data, *args, **keys):
    keys.setdefault("image", {"pipeline": [{"HorizontalFlip": {"p": 0.5}}, {"Rotate": {"limit": 10, "p": 0.5}}]})
    cfg = write_config(tmp_path / "c.yaml", input=str(data), **keys)
    result = invoke("run", cfg, "--json", "--quiet", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def train_files(out: Path) -> Counter:
    return Counter(p.parent.name for p in (out / "train").glob("*/*.png"))


def labels(summary) -> dict[str, tuple[int, int, int]]:
    return {e["label"]: (e["sources"], e["planned_outputs"], e["total_after"]) for e in summary["labels"]}


def test_target_max_gives_exactly_the_largest_label_everywhere(tmp_path, imbalanced):
    summary = run_json(tmp_path, imbalanced, balance={"target": "max"})
    assert labels(summary) == {"cat": (12, 0, 12), "coffee": (5, 7, 12), "rocket": (2, 10, 12)}
    assert train_files(tmp_path / "out") == {"cat": 12, "coffee": 12, "rocket": 12}
    assert Counter(p.parent.name for p in (tmp_path / "out/val").glob("*/*.png")) == {"cat": 1, "coffee": 1,
                                                                                       "rocket": 1}
    assert invoke("verify", tmp_path / "out").exit_code == 0


def test_integer_target_is_exact_and_larger_labels_get_the_minimum(tmp_path, imbalanced):
    summary = run_json(tmp_path, imbalanced, balance={"target": 8, "min_copies": 1})
    assert labels(summary) == {"cat": (12, 12, 24), "coffee": (5, 5, 10), "rocket": (2, 6, 8)}
    summary = run_json(tmp_path, imbalanced, "--output", str(tmp_path / "out7"), balance={"target": 7})
    assert labels(summary) == {"cat": (12, 0, 12), "coffee": (5, 2, 7), "rocket": (2, 5, 7)}
    assert train_files(tmp_path / "out7") == {"cat": 12, "coffee": 7, "rocket": 7}


def test_median_target_and_max_copies_cap(tmp_path, imbalanced):
    summary = run_json(tmp_path, imbalanced, "--dry-run", balance={"target": "median", "max_copies": 1})
    assert labels(summary) == {"cat": (12, 0, 12), "coffee": (5, 0, 5), "rocket": (2, 2, 4)}  # 5 wanted, 1 copy max
    assert summary["counts"]["planned_outputs"] == 2
    assert {e["label"]: e["target"] for e in summary["labels"]} == {"cat": 5, "coffee": 5, "rocket": 5}
    cfg = write_config(tmp_path / "c.yaml", input=str(imbalanced), image={"pipeline": []},
                       balance={"target": "median", "max_copies": 1})
    assert "short of the target with max_copies 1: rocket (4 of 5)" in invoke("run", cfg, "--dry-run").output


def test_without_originals_the_copies_make_the_target(tmp_path, imbalanced):
    summary = run_json(tmp_path, imbalanced, "--dry-run", balance={"target": "max"}, keep_originals=False)
    assert labels(summary) == {"cat": (12, 12, 12), "coffee": (5, 12, 12), "rocket": (2, 12, 12)}


def test_a_copy_is_the_same_file_with_or_without_balance(tmp_path, imbalanced):
    plain = run_json(tmp_path, imbalanced, "--output", str(tmp_path / "plain"), copies=2)
    balanced = run_json(tmp_path, imbalanced, "--output", str(tmp_path / "bal"), balance={"target": "max"})
    assert plain["status"] == balanced["status"] == "complete"

    def rows(out):
        lines = (tmp_path / out / "manifest.jsonl").read_text().splitlines()
        return {r["output"]: r for r in map(json.loads, lines) if r["copy"] is not None}

    before, after = rows("plain"), rows("bal")
    shared = before.keys() & after.keys()
    # copies 0 and 1 of every source that has them in both: coffee 5 + 2 (of its 7), rocket 2 + 2 (of 10)
    assert len(shared) == 11
    for output in shared:
        assert before[output]["sha256"] == after[output]["sha256"]
    for row in after.values():
        assert row["seed"] == item_seed(0, row["source"], row["copy"])  # seeds per (source, copy), as ever


def test_extra_copies_are_spread_by_the_seed_not_clumped():
    config = load_config({"input": ".", "output": "/tmp/never-written", "image": {"pipeline": []},
                          "balance": {"target": 15, "max_copies": 9}})
    picks = set()
    for seed in range(12):
        copies = spread(config.model_copy(update={"seed": seed}), "train/coffee", 10, 15)
        assert sorted(copies) == [0] * 5 + [1] * 5  # 5 extra outputs over 10 sources
        ones = [i for i, c in enumerate(copies) if c]
        assert all(b - a == 2 for a, b in itertools.pairwise(ones))  # every other source
        picks.add(tuple(ones))
    assert len(picks) == 2  # the seed decides which half


def test_determinism_across_worker_counts(tmp_path, imbalanced):
    manifests = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_json(tmp_path, imbalanced, "--workers", str(workers), "--output", str(out), balance={"target": "max"})
        manifests.append([(r["output"], r["sha256"], r["seed"]) for r in
                          map(json.loads, (out / "manifest.jsonl").read_text().splitlines())])
    assert manifests[0] == manifests[1]


def test_table_rows_are_balanced_by_their_label_column(tmp_path):
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    rows = [("Quiet mornings are best.", "calm")] * 6 + [("The storm broke the fence!", "loud")] * 2
    (data / "notes.csv").write_text("text,label\n" + "".join(f'"{t} {i}",{lab}\n' for i, (t, lab) in enumerate(rows)))
    summary = run_json(tmp_path, tmp_path / "data", image=None, text={"pipeline": [{"RandomWordAug": {
        "action": "swap"}}]}, balance={"target": "max"})
    assert labels(summary) == {"calm": (6, 0, 6), "loud": (2, 4, 6)}
    written = (tmp_path / "out/train/notes.csv").read_text().splitlines()[1:]
    assert Counter(line.split(",")[-3] for line in written) == {"calm": 6, "loud": 6}
    assert table_copies(load_config(tmp_path / "c.yaml"), "train/notes.csv", ["a", "a", None]) == [0, 0, 1]


def test_dry_run_and_validate_print_the_label_table(tmp_path, imbalanced):
    cfg = write_config(tmp_path / "c.yaml", input=str(imbalanced), image={"pipeline": []},
                       balance={"target": "max", "max_copies": 6})
    for command in (("run", cfg, "--dry-run"), ("validate", cfg)):
        out = invoke(*command).output
        assert "balance (target max, 0-6 copies per source)" in out
        table = [line.split() for line in out.splitlines() if line.startswith("    train")]
        assert table == [["train", "cat", "12", "0", "12"], ["train", "coffee", "5", "7", "12"],
                         ["train", "rocket", "2", "10", "12"]]


@pytest.mark.parametrize(("balance", "message"), [
    ({"target": "maximum"}, "balance.target: must be 'max', 'median' or a whole number"),
    ({"target": 0}, "balance.target: must be"),
    ({"target": "max", "min_copies": 3, "max_copies": 2}, "min_copies (3) is above max_copies (2)"),
    ({"target": "max", "max_copy": 2}, "did you mean 'max_copies'"),
])
def test_bad_balance_configs_name_the_key(tmp_path, imbalanced, balance, message):
    cfg = write_config(tmp_path / "c.yaml", input=str(imbalanced), image={"pipeline": []}, balance=balance)
    result = invoke("validate", cfg)
    assert result.exit_code == 2 and message in result.output


def test_example_config_runs_on_sample_data(tmp_path):
    from tests.conftest import SAMPLE_DATA

    result = invoke("run", SAMPLE_DATA.parent / "configs/balance.yaml", "--output", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    totals = {(e["table"], e["label"]): e["total_after"] for e in json.loads(result.stdout)["labels"]}
    assert totals == {(None, "cat"): 4, (None, "coffee"): 4, (None, "rocket"): 4, (None, "texture"): 4,
                      ("train/reviews.csv", "wisdom"): 11, ("train/reviews.csv", "wit"): 11}


@pytest.mark.parametrize("name", ["balance", "mix", "policies"])
def test_example_configs_satisfy_the_json_schema(name):
    import jsonschema
    import yaml

    from tests.conftest import SAMPLE_DATA

    schema = json.loads(invoke("schema").output)
    jsonschema.validate(yaml.safe_load((SAMPLE_DATA.parent / "configs" / f"{name}.yaml").read_text()), schema)


def test_annotated_images_are_balanced_by_their_rarest_class():
    """Detection sets: an image counts for the class of its objects that the fewest images hold.
    (Items carry ``annotations`` once the annotation work lands; stand-ins with its fields here.)"""
    from types import SimpleNamespace

    def image(name, *classes, error=None):
        objects = tuple(SimpleNamespace(category=c) for c in classes)
        annotations = SimpleNamespace(objects=objects, error=error)
        return SimpleNamespace(relpath=f"images/{name}.jpg", modality="image", label=None, split=None,
                               action="augment", annotations=annotations)

    # class 1 is on 5 images, 2 on 3, 3 on 1 (h's labels do not read): rarest classes 1 x3, 2 x2, 3 x1
    items = [image("a", 1, 1), image("b", 1), image("c", 1), image("d", 1, 2), image("e", 1, 2), image("f", 2, 3),
             image("g"), image("h", 3, error="bad label file")]
    from augcli.balance import balance_labels, copies_per_source

    assert balance_labels(items) == {"images/a.jpg": "1", "images/b.jpg": "1", "images/c.jpg": "1",
                                     "images/d.jpg": "2", "images/e.jpg": "2", "images/f.jpg": "3"}
    config = load_config({"input": ".", "output": "/tmp/never-written", "image": {"pipeline": []}, "copies": 2,
                          "balance": {"target": "max"}})
    copies = copies_per_source(config, items)
    assert [copies(i) for i in items[:3]] == [0, 0, 0]
    assert sorted(copies(i) for i in items[3:5]) == [0, 1]  # the seed picks which of the two
    assert [copies(i) for i in items[5:]] == [2, 2, 2]  # f: 1 + 2 = 3; g, h (no usable objects) keep copies
