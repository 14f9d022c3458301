"""Does the main process's memory stay flat as a table grows? Peak RSS of whole runs, alternating.

    python benchmarks/memory.py [--rows 20000,200000] [--repeats 3] [--quick]

Input: one CSV per size (Debian's fortunes-min sentences, cycled; `benchmarks/text.py` makes it),
RandomWordAug(swap), 1 copy, `--workers 2`. Each measurement is a fresh process that runs the
config through `augcli.run` and reports its own peak RSS (the main process's: workers are other
processes, whose rows never reach it) and the run's wall time; sizes take turns round by round.
Memory is flat when the largest table adds little to the smallest: the manifest lines of
finished ranges go to the row spool (`journal.RowSpool`) past its first 8 MB, and the manifest
and journal are written streamed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys

import harness
import text
import yaml

MEASURE = """
import json, resource, sys, time
import augcli
started = time.perf_counter()
result = augcli.run(sys.argv[1])
seconds = time.perf_counter() - started
assert result.exit_code == 0, result.errors
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds,
                  "rows": result.outputs_written}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="20000,200000", help="comma-separated table sizes")
    harness.add_common_args(parser)
    args = parser.parse_args()
    sizes = [2_000, 20_000] if args.quick else [int(n) for n in args.rows.split(",")]
    repeats = 2 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "memory")
    configs = {}
    for rows in sizes:
        data = text.make_input(scratch, rows)
        config = scratch / f"rows-{rows}.yaml"
        config.write_text(yaml.safe_dump({"input": str(data), "output": str(scratch / f"out-{rows}"), "copies": 1,
                                          "keep_originals": False, "workers": 2,
                                          "text": {"pipeline": [{"RandomWordAug": {"action": "swap"}}]}}))
        configs[rows] = config
    print(f"one CSV of {', '.join(f'{n:,}' for n in sizes)} rows, RandomWordAug swap, 2 workers, "
          f"{repeats} rounds, scratch {scratch}")
    measured: dict[int, list[dict]] = {rows: [] for rows in sizes}
    for r in range(repeats):
        order = sizes[r % len(sizes):] + sizes[: r % len(sizes)]
        for rows in order:
            shutil.rmtree(scratch / f"out-{rows}", ignore_errors=True)
            done = subprocess.run([sys.executable, "-c", MEASURE, str(configs[rows])], capture_output=True,
                                  text=True, check=True)
            measured[rows].append(json.loads(done.stdout.strip().splitlines()[-1]))
            assert measured[rows][-1]["rows"] == rows, measured[rows][-1]
            print(f"  round {r + 1}/{repeats}: {rows:,} rows: {measured[rows][-1]['rss_mb']:.0f} MB", file=sys.stderr)
    print("\nmain process peak RSS by table size")
    figures = []
    for rows in sizes:
        rss = [m["rss_mb"] for m in measured[rows]]
        seconds = [m["seconds"] for m in measured[rows]]
        print(f"  {rows:>9,} rows   {statistics.median(rss):6.0f} MB ({min(rss):.0f}-{max(rss):.0f})   "
              f"run {harness.spread(seconds)}")
        figures.append({"rows": rows, "peak_rss_mb": rss, "seconds": seconds})
    small, large = sizes[0], sizes[-1]
    grown = statistics.median(m["rss_mb"] for m in measured[large]) - statistics.median(
        m["rss_mb"] for m in measured[small])
    print(f"  {large:,} rows take {grown:.0f} MB more than {small:,}: "
          f"{grown * 1024 * 1024 / (large - small):.0f} bytes per added row (a manifest line is ~300-600 bytes)")
    harness.save(args.json, figures)
    for rows in sizes:
        shutil.rmtree(scratch / f"out-{rows}", ignore_errors=True)


if __name__ == "__main__":
    main()
