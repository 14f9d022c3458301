"""Start-up: `augcli --help`, and the quickstart with the default workers against --workers 1.

    python benchmarks/startup.py [--repeats 5] [--quick]

Whole commands in fresh processes, taking turns:
  augcli --help                                  (target < 0.1 s)
  augcli run configs/quickstart.yaml             default `workers: auto`
  augcli run configs/quickstart.yaml --workers 1 (the default must be no slower)
  augcli verify OUTPUT                           of the default run just made
"""

from __future__ import annotations

import argparse

import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    scratch = harness.scratch_folder(args.scratch, "startup")
    config = str(harness.ROOT / "configs" / "quickstart.yaml")
    out_auto, out_one = scratch / "quickstart-auto", scratch / "quickstart-1"
    print(f"configs/quickstart.yaml, {harness.cores()} cores, {repeats} rounds")
    help_times = harness.alternate([harness.Contender("augcli --help", harness.augcli_cmd("--help"))], repeats * 2)
    contenders = [
        harness.Contender("run, workers auto", harness.augcli_cmd("run", config, "--quiet", "--output", str(out_auto)),
                          [out_auto]),
        harness.Contender("run, --workers 1",
                          harness.augcli_cmd("run", config, "--quiet", "--output", str(out_one), "--workers", "1"),
                          [out_one]),
    ]
    after = {"run, workers auto": harness.Contender("verify", harness.augcli_cmd("verify", str(out_auto)))}
    times = harness.alternate(contenders, repeats, after)
    figures = [harness.report("augcli --help", help_times, {}, "", []),
               harness.report("configs/quickstart.yaml", times, {}, "",
                              [("run, workers auto", "run, --workers 1", ">= 1.0 (auto no slower)"),
                               ("verify", "run, workers auto", ">= 1.0 (verify no slower than the run)")])]
    harness.save(args.json, figures)


if __name__ == "__main__":
    main()
