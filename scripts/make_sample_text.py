"""Regenerate the text of sample_data/ from Debian's fortunes-min (apt-get install fortunes-min).

    python scripts/make_sample_text.py

quotes.txt: one real English sentence per line (for text.unit: line). reviews.csv: the same
kind of sentences in a table with an id and a label column, and the quoting a real export
has: commas, doubled quotes and a line break inside cells, and non-ASCII text.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes/fortunes")
ROOT = Path(__file__).resolve().parent.parent / "sample_data" / "train"


def sentences() -> list[str]:
    found = []
    for block in FORTUNES.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
        text = " ".join(block.split())
        if "--" in text or not 40 <= len(text) <= 110 or not re.fullmatch(r"[A-Za-z0-9 ,.;:'!?\"()-]+", text):
            continue
        found.append(text)
    return found


def main() -> None:
    pool = sentences()
    rng = random.Random(7)
    picked = rng.sample(pool, 36)
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "quotes.txt").write_text("\n".join(picked[:16]) + "\n", encoding="utf-8")
    rows = [[f"q{i:03d}", text, rng.choice(["wit", "wisdom"])] for i, text in enumerate(picked[16:])]
    rows[0][1] = 'She said "no, thanks", and left.'  # quotes and a comma
    rows[1][1] = "Café au lait costs 3,50 €;\nthe second line stays in the cell."  # non-ASCII, newline
    with open(ROOT / "reviews.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
    print(f"wrote {ROOT / 'quotes.txt'} and {ROOT / 'reviews.csv'} from {len(pool)} candidate sentences")


if __name__ == "__main__":
    main()
