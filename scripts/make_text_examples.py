"""Write the docs' before/after table of every text step on 8 real sentences (Debian's fortunes-min).

    python scripts/make_text_examples.py            # print the Markdown
    python scripts/make_text_examples.py --write    # replace the table in docs/reference/text-examples.md

Needs fortunes-min and WordNet (apt-get install fortunes-min wordnet-base wordnet-sense-index).
The outputs are what `augcli run` writes with these steps: sentence i uses seed i.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augcli.modalities import text  # noqa: E402

FORTUNES = Path("/usr/share/games/fortunes/fortunes")
PAGE = ROOT / "docs" / "reference" / "text-examples.md"
START, END = "<!-- text-examples:start -->", "<!-- text-examples:end -->"
# what makes a sentence worth showing -> how many real ones with it
FEATURES = [(r"\w'[a-z]+\b", 2), (r"\w's\b", 1), (r"[a-z]-[a-z]", 2), (r'"\w', 1), (r" -- ", 1), (r"\d[.,:%]", 1)]
STEPS = [
    {"SynonymAug": {"aug_p": 0.3}},
    {"AntonymAug": {"aug_p": 0.5}},
    {"RandomWordAug": {"action": "swap"}},
    {"RandomWordAug": {"action": "delete"}},
    {"RandomWordAug": {"action": "crop"}},
    {"RandomWordAug": {"action": "substitute", "target_words": ["thing"]}},
    {"SplitAug": {}},
    {"SpellingAug": {}},
    {"KeyboardAug": {}},
    {"OcrAug": {}},
    {"RandomCharAug": {"action": "insert"}},
    {"SynonymReplacement": {"alpha": 0.2}},
    {"RandomInsertion": {"alpha": 0.2}},
    {"RandomSwap": {"alpha": 0.2}},
    {"RandomDeletion": {"p": 0.2}},
    {"EDA": {}},
]


def sentences() -> list[str]:
    blocks = [" ".join(b.split()) for b in FORTUNES.read_text(encoding="utf-8", errors="replace").split("\n%\n")]
    picked: list[str] = []
    for pattern, count in FEATURES:
        found = [b for b in blocks if re.search(pattern, b) and 30 <= len(b) <= 110 and b not in picked]
        picked += found[:count]
    return picked


def cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", "<br>")


def step_label(step: dict) -> str:
    """The step as a config writes it, e.g. ``RandomWordAug: {action: swap}``, for an HTML summary."""
    import html

    import yaml

    name, params = next(iter(step.items()))
    if not params:
        return f"<code>{name}</code>"
    flow = yaml.safe_dump(params, default_flow_style=True, width=1000).strip()
    return f"<code>{html.escape(name + ': ' + flow)}</code>"


def table() -> str:
    import nlpaug

    spelling = str(Path(nlpaug.__file__).parent / "res" / "word" / "spelling" / "spelling_en.txt")
    chosen = sentences()
    parts = [START, ""]
    for step in STEPS:
        name, params = next(iter(step.items()))
        run_step = {name: {**params, "dict_path": spelling}} if name == "SpellingAug" else step
        pipeline = text.pipeline_for({"pipeline": [run_step], "protect": [], "wordnet": None})
        summary = f'<details markdown="1"><summary>{step_label(step)}</summary>'  # markdown="1": MkDocs reads the table
        parts += [summary, "", "| before | after |", "| --- | --- |"]
        for seed, sentence in enumerate(chosen):
            out, _ = text.augment(pipeline, sentence, seed)
            parts.append(f"| {cell(sentence)} | {cell(out)} |")
        parts += ["", "</details>", ""]
    parts.append(END)
    return "\n".join(parts)


def main() -> None:
    rendered = table()
    if "--write" not in sys.argv:
        print(rendered)
        return
    page = PAGE.read_text(encoding="utf-8")
    if START not in page or END not in page:
        raise SystemExit(f"{PAGE} has no {START} ... {END} block to replace")
    before, rest = page.split(START, 1)
    PAGE.write_text(before + rendered + rest.split(END, 1)[1], encoding="utf-8")
    print(f"wrote the text examples into {PAGE}")


if __name__ == "__main__":
    main()
