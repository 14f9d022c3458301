"""The plain script a competent user writes: nlpaug augmenters over a CSV's text column, row by row.

    python text_loop.py INPUT.csv OUTPUT.csv [--copies K] [--jobs -1]

``--jobs 1`` is a plain loop in one process; otherwise the rows go through joblib.Parallel.
WordNet is read from an NLTK data folder (``--nltk-data``), as after ``nltk.download("wordnet")``;
with no POS tagger data offline, every token is untagged (as augcli does).
"""

import argparse
import csv

import nlpaug.augmenter.word as naw
import nltk
from joblib import Parallel, delayed


def augmenters(nltk_data):
    nltk.data.path.insert(0, nltk_data)
    synonyms = naw.SynonymAug(aug_src="wordnet", aug_p=0.1)
    synonyms.model.pos_tag = lambda tokens: [(token, "") for token in tokens]
    return [synonyms, naw.RandomWordAug(action="swap")]


def augment(text, chain):
    for augmenter in chain:
        text = augmenter.augment(text)[0]
    return text


def augment_rows(texts, nltk_data):
    chain = augmenters(nltk_data)  # per batch of rows: cheap, WordNet stays loaded in the process
    return [augment(text, chain) for text in texts]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--nltk-data", required=True)
    args = parser.parse_args()
    with open(args.input, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [row["text"] for row in rows for _ in range(args.copies)]
    if args.jobs == 1:
        augmented = augment_rows(texts, args.nltk_data)
    else:
        batch = 200
        parts = Parallel(n_jobs=args.jobs)(delayed(augment_rows)(texts[i : i + batch], args.nltk_data)
                                           for i in range(0, len(texts), batch))
        augmented = [text for part in parts for text in part]
    with open(args.output, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*rows[0], "copy"])
        writer.writeheader()
        for i, text in enumerate(augmented):
            writer.writerow({**rows[i // args.copies], "text": text, "copy": i % args.copies})


if __name__ == "__main__":
    main()
