"""Is `augcli run` faster than the nlpaug script a user would write? Whole commands, alternating.

    python benchmarks/text.py [--sizes small,large] [--repeats 5] [--quick]

Sizes: one CSV of 2,000 rows (small) or 20,000 rows (large) of real English sentences (Debian's
fortunes-min, cycled; columns id, text, label), 1 copy, SynonymAug(aug_p=0.1) (WordNet, no POS
tagger) then RandomWordAug(swap). Contenders, whole commands in fresh processes, taking turns:
  plain loop, all cores  benchmarks/baselines/text_loop.py: csv -> augmenters row by row in
                         joblib.Parallel(n_jobs=-1) (batches of 200 rows) -> csv
  plain loop, 1 process  the same script with --jobs 1 (no joblib)
  augcli run             `augcli run CONFIG --quiet`, default workers (auto)
Same work: augcli's and the script's tables must have the same number of augmented rows
(nlpaug draws from global random state, so outputs are compared by count, not by bytes).
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import harness
import yaml

FORTUNES = Path("/usr/share/games/fortunes/fortunes")
STEPS = [{"SynonymAug": {"aug_p": 0.1}}, {"RandomWordAug": {"action": "swap"}}]
SIZES = {"small": 2_000, "large": 20_000}


def sentences() -> list[str]:
    if FORTUNES.is_file():
        blocks = FORTUNES.read_text(encoding="utf-8", errors="replace").split("\n%\n")
        return [s for s in (" ".join(b.split()) for b in blocks) if 30 <= len(s) <= 200]
    lines = (harness.ROOT / "sample_data" / "train" / "quotes.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def make_input(root: Path, rows: int) -> Path:
    data = root / f"text-{rows}"
    table = data / "train" / "sentences.csv"
    if table.is_file():
        return data
    table.parent.mkdir(parents=True, exist_ok=True)
    pool = sentences()
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        for i in range(rows):
            writer.writerow([i, pool[i % len(pool)], f"class_{i % 5}"])
    return data


def nltk_data() -> str:
    """WordNet as an NLTK data folder (augcli presents Debian's wordnet-base as one)."""
    from augcli.wordnet import ensure_wordnet

    return ensure_wordnet() or str(Path.home() / "nltk_data")


def count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,large", help=f"comma-separated: {', '.join(SIZES)}")
    harness.add_common_args(parser)
    args = parser.parse_args()
    sizes = ["small"] if args.quick else args.sizes.split(",")
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "text")
    nltk = nltk_data()
    figures = []
    for size in sizes:
        rows = SIZES[size]
        print(f"{size}: one CSV of {rows} rows, {[next(iter(s)) for s in STEPS]}, {harness.cores()} cores, "
              f"{repeats} rounds")
        data = make_input(scratch, rows)
        out_plain, out_augcli = scratch / "out-plain", scratch / "out-augcli"
        config = scratch / f"{size}.yaml"
        config.write_text(yaml.safe_dump({"input": str(data), "output": str(out_augcli), "copies": 1,
                                          "keep_originals": False, "text": {"pipeline": STEPS}}))
        plain_cmd = harness.baseline_cmd("text_loop.py", str(data / "train" / "sentences.csv"),
                                         str(out_plain / "sentences.csv"), "--nltk-data", nltk)
        out_plain.mkdir(parents=True, exist_ok=True)
        contenders = [
            harness.Contender("plain loop, all cores", [*plain_cmd, "--jobs", "-1"]),
            harness.Contender("plain loop, 1 process", [*plain_cmd, "--jobs", "1"]),
            harness.Contender("augcli run", harness.augcli_cmd("run", str(config), "--quiet"), [out_augcli]),
        ]
        times = harness.alternate(contenders, repeats)
        ours = count_rows(out_augcli / "train" / "sentences__aug.csv")
        theirs = count_rows(out_plain / "sentences.csv")
        assert ours == theirs == rows, f"same work: augcli wrote {ours} rows, the script {theirs}, of {rows}"
        print(f"  same work: both wrote {rows} augmented rows")
        figures.append(harness.report(f"{size}: one CSV, {rows} rows, 1 copy", times,
                                      {label: rows for label in times}, "rows",
                                      [("augcli run", "plain loop, 1 process", ">= 1.6 with 2 workers"),
                                       ("augcli run", "plain loop, all cores", ">= 0.95")]))
        for folder in (out_plain, out_augcli):
            shutil.rmtree(folder, ignore_errors=True)
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
