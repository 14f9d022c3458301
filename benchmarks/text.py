"""Text throughput of augcli against a hand-written joblib loop over the same nlpaug augmenters.

    python benchmarks/text.py [--files 40] [--lines 100] [--repeats 3] [--workers N]

Writes FILES .txt files of LINES real English sentences (Debian's fortunes-min when installed,
else sample_data/), then measures sentences/s, best of --repeats, each measurement in a fresh
process that first warms up its workers:
  hand loop   joblib over all workers; per sentence: seed the globals, call each augmenter
  augcli      the same steps through augcli.run (text.unit: line), manifest and all
Pipeline: SynonymAug(aug_p=0.1) when WordNet is installed, then RandomWordAug(swap) and
KeyboardAug. Prints both rates and the ratio (target >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parent.parent
FORTUNES = Path("/usr/share/games/fortunes/fortunes")


def steps() -> list[dict]:
    from augcli.wordnet import ResourceError, ensure_wordnet

    chosen = [{"RandomWordAug": {"action": "swap"}}, {"KeyboardAug": {"aug_char_p": 0.1}}]
    try:
        ensure_wordnet()
        return [{"SynonymAug": {"aug_p": 0.1}}, *chosen]
    except ResourceError:
        return chosen


def sentences() -> list[str]:
    if FORTUNES.is_file():
        blocks = FORTUNES.read_text(encoding="utf-8", errors="replace").split("\n%\n")
        found = [" ".join(b.split()) for b in blocks]
        return [s for s in found if 30 <= len(s) <= 160]
    return [line for line in (ROOT / "sample_data" / "train" / "quotes.txt").read_text().splitlines() if line]


def make_inputs(root: Path, files: int, lines: int) -> int:
    pool = sentences()
    folder = root / "train"
    folder.mkdir(parents=True)
    for f in range(files):
        chunk = [pool[(f * lines + i) % len(pool)] for i in range(lines)]
        (folder / f"part_{f:04d}.txt").write_text("\n".join(chunk) + "\n")
    return files * lines


def _hand_chunk(paths: list[str], out: str, pipeline_steps: list[dict]) -> int:
    """What a careful user writes: the same augmenters, globals seeded per sentence, one file per input."""
    import random

    import numpy as np

    from augcli.modalities import text  # the WordNet presentation and the offline POS fallback
    from augcli.seeding import item_seed

    pipeline = text.pipeline_for({"pipeline": pipeline_steps, "protect": [], "wordnet": None})
    augmenters = [node.augmenter for node in pipeline.children]
    done = 0
    for path in paths:
        lines = Path(path).read_text().splitlines()
        outputs = []
        for number, line in enumerate(lines):
            seed = item_seed(0, f"{Path(path).name}:{number}", 0)
            random.seed(seed)
            np.random.seed(seed)
            for augmenter in augmenters:
                result = augmenter.augment(line)
                line = result[0][0] if isinstance(result[0], tuple) else result[0]
            outputs.append(line)
            done += 1
        Path(out, Path(path).name).write_text("\n".join(outputs) + "\n")
    return done


def once(kind: str, source: Path, target: Path, workers: int) -> int:
    pipeline_steps = steps()
    if kind == "augcli":
        import augcli

        config = {"input": str(source), "output": str(target), "copies": 1, "keep_originals": False,
                  "workers": workers, "text": {"unit": "line", "pipeline": pipeline_steps}}
        result = augcli.run(config)
        assert result.exit_code == 0, result.errors
        return result.outputs_written
    from joblib import Parallel, delayed

    target.mkdir(parents=True)
    paths = [str(p) for p in sorted(source.rglob("*.txt"))]
    per = max(1, len(paths) // (workers * 4))
    chunks = [paths[i : i + per] for i in range(0, len(paths), per)]
    jobs = (delayed(_hand_chunk)(c, str(target), pipeline_steps) for c in chunks)
    return sum(Parallel(n_jobs=workers, backend="loky")(jobs))



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    harness.add_contender_args(parser, ["hand", "augcli"])
    args = parser.parse_args()
    if harness.contender_main(args, lambda kind, source, target: once(kind, source, target, args.workers)):
        return

    with tempfile.TemporaryDirectory(prefix="augcli-text-bench-") as tmp:
        scratch = Path(tmp)
        n = make_inputs(scratch / "data", args.files, args.lines)
        make_inputs(scratch / "warm", args.workers * 2, 20)
        print(f"{n} sentences in {args.files} files, {args.workers} workers, steps "
              f"{[next(iter(s)) for s in steps()]}, best of {args.repeats}")
        best = harness.round_robin(__file__, {"hand loop": "hand", "augcli": "augcli"}, scratch, args.workers,
                                   args.repeats)
    for label, rate in best.items():
        print(f"  {label:<10} {rate:8.1f} sentences/s")
    print(f"  augcli / hand loop  {best['augcli'] / best['hand loop']:5.2f}x  (>= 0.90)")


if __name__ == "__main__":
    main()
