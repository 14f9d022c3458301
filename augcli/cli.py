"""The command line: parses options, calls the library, prints, exits. The only module that does."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import click

from augcli.errors import AugcliError, DatasetError, RunStoppedError
from augcli.version import __version__

MAX_ERRORS_SHOWN = 20
_OWN_PROCESS = False  # True when started as the `augcli` command (main), not called in-process by a test
MAX_WARNINGS_SHOWN = 5


class UserError(click.ClickException):
    """A user error: message on stderr, no traceback, the exit code the error kind says."""

    def __init__(self, error: AugcliError):
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="augcli")
def cli() -> None:
    """augcli: turn a dataset folder into a larger, augmented one, reproducibly.

    \b
    Example:
        augcli run configs/quickstart.yaml
        augcli run configs/quickstart.yaml --dry-run
    """


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: the config's, or all cores).")
@click.option("--seed", type=click.IntRange(min=0), help="Run seed; overrides the config's.")
@click.option("--copies", type=click.IntRange(min=1), help="Augmented copies per source; overrides the config's.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (relative to the current directory); overrides the config's.")
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary; errors only.")
@click.option("--fresh", is_flag=True, help="Rewrite every output instead of keeping those an earlier run made.")
@click.option("--executor", type=click.Choice(["local", "dask", "ray"]),
              help="Where the tasks run: this machine's worker processes (local, the default), a dask or a Ray "
                   "cluster; overrides the config's executor.name.")
@click.option("--address", help="The cluster's address (dask: tcp://HOST:8786, none: a LocalCluster; "
                                "ray: auto or ray://HOST:10001); overrides the config's executor.address.")
def run(config: Path, workers, seed, copies, output, dry_run, as_json, quiet, fresh, executor, address) -> None:
    """Augment the dataset a CONFIG file describes.

    Writes the augmented copies (and the originals, with keep_originals), a manifest.jsonl
    recording every output's source, seed and applied parameters, and run.json. Running it
    again into the same output resumes: outputs that still match are kept (--fresh: none).
    Exit code 0: all done; 1: some items failed, or the disk filled up; 2: usage or config
    error, or another run holds the output (nothing written); 130/143: stopped by
    SIGINT/SIGTERM (what was written is recorded; run again to resume).

    \b
    Example:
        augcli run configs/quickstart.yaml --workers 2 --copies 5
        augcli run configs/quickstart.yaml --dry-run
        augcli run configs/quickstart.yaml --json --quiet > summary.json
        augcli run configs/quickstart.yaml --executor dask --address tcp://HOST:8786
    """
    from augcli.job import run as run_job

    cluster = {key: value for key, value in (("name", executor), ("address", address)) if value is not None}
    overrides = {"workers": workers, "seed": seed, "copies": copies,
                 "output": str(output.resolve()) if output else None, "executor": cluster or None}
    bar = _ProgressBar(enabled=not (quiet or as_json) and sys.stderr.isatty())
    if _OWN_PROCESS:  # the run handles SIGINT/SIGTERM while it runs; once it has returned, this command
        # only prints and exits: further Ctrl-C presses must not turn a clean stop into a traceback
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
    try:
        result = run_job(config, overrides=overrides, dry_run=dry_run, progress=bar.update, fresh=fresh)
    except RunStoppedError as exc:  # interrupted, or the disk is full: one line, and the summary for tools
        bar.close()
        if as_json and exc.result is not None:
            click.echo(json.dumps(exc.result.summary(), indent=2))
        failed = exc.result is not None and exc.result.status == "failed"
        click.echo(f"error: {exc}" if failed else str(exc), err=True)
        sys.exit(exc.exit_code)
    except AugcliError as exc:
        raise UserError(exc) from None
    except KeyboardInterrupt:  # before the run began (reading the config, discovering): nothing written
        bar.close()
        click.echo("interrupted before anything was written", err=True)
        sys.exit(130)
    finally:
        bar.close()

    if as_json:
        click.echo(json.dumps(result.summary(), indent=2))
    elif dry_run:
        _print_plan(result)
    elif not quiet:
        _print_summary(result)
    if not (quiet or as_json):
        _print_config_warnings(result.config)
    _print_errors(result.errors)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "--samples", "n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Sources to show, spread across labels.")
@click.option("--copies", type=click.IntRange(min=1),
              help=f"Copies per source (default: the config's, at most {4}).")
@click.option("--seed", type=click.IntRange(min=0), help="Run seed; overrides the config's.")
@click.option("-o", "--output", "target", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: preview.png, or preview.html with --html).")
@click.option("--html", "as_html", is_flag=True, help="Write a self-contained HTML gallery instead of a PNG grid.")
def preview(config: Path, n, copies, seed, target, as_html) -> None:
    """Show what a CONFIG's pipeline does before running it.

    Picks sources spread across labels and augments each with the real pipeline and the
    per-output seeds a run would use: copy k in the preview is what `run` writes as copy k.
    Images: a PNG grid (a row per source: the original, then its copies, captioned with the
    applied steps). Audio: rows of log-mel spectrograms in the same grid, and the clips in a
    FILE_clips/ folder beside it to listen to. Text: a table on the terminal with changed
    words highlighted, and the same as Markdown (FILE with a .md suffix). Video: the first,
    middle and last frames of each copy, one above the other, in the grid. --html: one page
    with all of it (audio players included) that opens from disk with no network.

    \b
    Example:
        augcli preview configs/quickstart.yaml -n 6 --copies 3 -o preview.png
        augcli preview configs/quickstart.yaml --html -o preview.html
    """
    from augcli.io import write_atomic
    from augcli.modalities.registry import load_config
    from augcli.preview import (
        audio_preview,
        clip_files,
        gallery_html,
        grid_png,
        text_markdown,
        text_preview,
        text_table,
        video_preview,
    )
    from augcli.preview import preview as make_preview
    from augcli.runner import LibraryMessages

    try:
        cfg = load_config(config, {"seed": seed})
        with LibraryMessages.caught() as caught:  # library warnings: one list below, not in the middle of the table
            samples = make_preview(cfg, n, copies) if cfg.image else []
            sounds = audio_preview(cfg, n, copies) if cfg.audio else []
            failed_texts: list[tuple[str, str]] = []
            texts = text_preview(cfg, n, copies, failed_texts) if cfg.text else []
            videos = video_preview(cfg, n, copies) if cfg.video else []
            messages = caught.take()
        if as_html:
            files = {target or Path("preview.html"): gallery_html(samples + sounds + videos, cfg, texts).encode()}
        else:
            files = {}
            if samples or sounds or videos:
                png = target or Path("preview.png")
                files[png] = grid_png(samples + sounds + videos)
                files.update({Path(k): v for k, v in clip_files(sounds, str(png.with_suffix("")) + "_clips").items()})
            if texts:
                md_target = (target or Path("preview.md")).with_suffix(".md")
                files[md_target] = text_markdown(texts).encode()
        for path, data in files.items():
            write_atomic(path, data)
    except AugcliError as exc:
        raise UserError(exc) from None
    except OSError as exc:  # -o names a file in a folder that is not there, not writable, a full disk...
        raise UserError(DatasetError(f"cannot write the preview {exc.filename or ''} ({exc.strerror or exc}): "
                                     "choose another -o path, or make its folder writable")) from None
    if texts and not as_html:
        click.echo(text_table(texts, color=sys.stdout.isatty()))
    shown = max((len(s.cells) for s in samples + sounds + videos), default=1)
    if samples:
        click.echo(f"preview: {len(samples)} images x (original + {shown - 1} copies)")
    if sounds:
        click.echo(f"preview: {len(sounds)} clips x (original + {shown - 1} copies), spectrograms in the grid, "
                   "clips beside it")
    if texts:
        click.echo(f"preview: {len(texts)} text samples x {len(texts[0].copies)} copies")
    if videos:
        click.echo(f"preview: {len(videos)} clips x (original + {shown - 1} copies), first, middle and last frames")
    written = [str(p) for p in files if not str(p).endswith(tuple(".wav .flac .ogg .mp3".split()))]
    n_clips = len(files) - len(written)
    click.echo("wrote " + ", ".join(written) + (f" and {n_clips} clips" if n_clips else ""))
    if messages:
        click.echo(f"library messages ({len(messages)} distinct):")
        for message in messages[:MAX_WARNINGS_SHOWN]:
            click.echo(f"  {message}")
    for source, reason in [(s.source, s.error) for s in samples + sounds + videos if s.error] + failed_texts:
        click.echo(f"failed: {source}: {reason}", err=True)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def validate(config: Path) -> None:
    """Check a CONFIG without running it: parse, resolve paths, build every pipeline, plan.

    Reports every problem at once, each with its YAML path, and exits 2; or prints what a
    run would do (sources per split and label, files to write) and exits 0.

    \b
    Example:
        augcli validate configs/quickstart.yaml
    """
    from augcli.job import run as run_job

    try:
        result = run_job(config, dry_run=True)
    except AugcliError as exc:
        raise UserError(exc) from None
    click.echo(f"{config}: valid")
    _print_plan(result)
    _print_config_warnings(result.config)


def _print_config_warnings(config) -> None:
    for problem in config.warnings:
        click.echo(f"warning: {problem}", err=True)


@cli.command()
@click.argument("modality", type=click.Choice(["image", "audio", "text", "video"]), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
def transforms(modality, as_json) -> None:
    """List the step names a pipeline may use, with their parameters and defaults.

    Read from the libraries themselves (albumentations for images, audiomentations for
    audio, nlpaug for text), so the list is always that of the installed versions; text adds
    augcli's EDA steps and compositions, audio the SpecAugment steps, video its temporal
    steps (TemporalCrop, FrameSubsample, SpeedChange, FrameDrop) before albumentations' own.

    \b
    Example:
        augcli transforms image
        augcli transforms text --json | jq '.text[] | select(.name == "SynonymAug")'
    """
    from augcli.modalities.registry import PLUGINS, plugin

    listing = {name: plugin(name).describe_steps() for name in ([modality] if modality else PLUGINS)}
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for name, entries in listing.items():
        click.echo(f"{name} ({len(entries)} steps)")
        for entry in entries:
            params = ", ".join(
                f"{p}=<required>" if spec.get("required") else f"{p}={json.dumps(spec['default'])}"
                for p, spec in entry["params"].items()
            )
            needs = f"  [needs {entry['needs']}: an annotated dataset]" if entry.get("needs") else ""
            needs += "  [temporal: augcli's]" if entry.get("temporal") else ""
            click.echo(f"  {entry['name']}({params}){needs}")


@cli.command()
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sample", type=click.IntRange(min=1), help="Re-derive only N outputs (deterministic choice).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: the run's).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line; problems only.")
def verify(output_dir: Path, sample, workers, as_json, quiet) -> None:
    """Prove an OUTPUT_DIR is exactly what its manifest says.

    Re-derives every augmented output from its source, seed and the recorded config and
    compares sha256 hashes; checks that every file the manifest names exists, that none
    was altered, and that no stray file is present. Exit 0 when all match, 1 otherwise,
    each problem named with its file and likely cause (the first 10 of each kind, then a
    count; --json lists all). If the last run did not finish, says so in one line with the
    command that finishes it, checks only the listed files' hashes, and exits 1.

    \b
    Example:
        augcli verify out/quickstart
        augcli verify out/big-run --sample 200
        augcli verify out/quickstart --json --quiet > report.json
    """
    from augcli.verify import verify as run_verify

    try:
        report = run_verify(output_dir, sample, workers)
    except AugcliError as exc:
        raise UserError(exc) from None
    if report.unfinished:
        click.echo(report.unfinished, err=True)
    for line in _grouped(report.findings):
        click.echo(line, err=True)
    if as_json:
        click.echo(json.dumps(report.summary(output_dir), indent=2))
    elif not quiet:
        verdict = "all match" if not report.findings else f"{len(report.findings):,} problems"
        if report.unfinished:
            verdict = ("the last run did not finish" + (f"; {verdict}" if report.findings else
                                                        ", and every listed file matches"))
        click.echo(f"verified {output_dir}: {report.files} manifest entries, {report.hashed} checked, "
                   f"{report.regenerated} re-derived: {verdict}")
    if report.version_changes:
        click.echo("library versions differ from the run's: " + "; ".join(report.version_changes), err=True)
    sys.exit(report.exit_code)


SHOWN_PER_KIND = 10  # verify prints the first few problems of each kind, then a count (--json has them all)


def _grouped(findings: list) -> list[str]:
    """The first few problems of each kind, each on its line, then ``... and 7,190 more changed files``."""
    from augcli.verify import PROBLEMS

    kinds: dict[str, list] = {}
    for finding in findings:
        kinds.setdefault(finding.problem, []).append(finding)
    lines = []
    order = list(PROBLEMS)
    for problem, found in sorted(kinds.items(), key=lambda kind: order.index(kind[0]) if kind[0] in order else 99):
        lines += [str(finding) for finding in found[:SHOWN_PER_KIND]]
        if len(found) > SHOWN_PER_KIND:
            lines.append(f"... and {len(found) - SHOWN_PER_KIND:,} more {PROBLEMS.get(problem, problem)}")
    return lines


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the config file, for editors that check and complete YAML.

    \b
    Example:
        augcli schema > augcli.schema.json
        # then, first line of a config:  # yaml-language-server: $schema=augcli.schema.json
    """
    from augcli.modalities.registry import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


class _ProgressBar:
    """A tqdm bar on stderr, created on the first update (when the total is known)."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` outputs (files, or a table's samples); a failed source leaves the total."""
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="out", desc="augmenting", file=sys.stderr, leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _workers_line(result) -> str:
    cluster = result.config.executor
    if cluster.name != "local":
        return f"those of the {cluster.name} cluster at {cluster.address}" if cluster.address else \
            "a dask LocalCluster of every usable core" if cluster.name == "dask" else "those of the Ray cluster"
    n, asked = result.workers, result.config.workers
    if asked != "auto":
        return f"{n} (workers: {asked})" if n == asked else f"{n} (workers: {asked}; no more than there are sources)"
    if n == 1:
        return "1 (auto: too little work to repay starting worker processes; the main process does it)"
    return f"{n} (auto: every usable core)"


def _print_plan(result) -> None:
    counts, breakdown = result.counts(), result.plan.breakdown()
    click.echo(f"plan: {result.config.input} -> {result.config.output} (dry run: nothing written)")
    click.echo(f"  sources: {counts['sources']} ({counts['augmented_sources']} to augment, "
               f"{counts['copied_sources']} to copy unchanged)")
    for key in ("split", "label"):
        click.echo(f"  by {key}: " + ", ".join(f"{k} {v}" for k, v in breakdown[key].items()))
    n_copied = counts["copied_sources"]
    n_mixed = sum(len(t.item.mix) for t in result.plan.tasks)
    planned = result.planned_files()
    extras = planned["labels_and_sidecars"]
    click.echo(f"  files to write: {planned['files']} ({counts['planned_outputs']} augmented, "
               f"{counts['planned_originals'] - n_copied} originals kept, {n_copied} copied unchanged"
               + (f", {n_mixed} mixed" if n_mixed else "")
               + (f", {extras} label/sidecar file{'s' if extras != 1 else ''}" if extras else "")
               + (f", {planned['aggregates']} aggregate file{'s' if planned['aggregates'] != 1 else ''}"
                  if planned["aggregates"] else "") + ")")
    click.echo(f"  workers: {_workers_line(result)}")
    if counts["unmatched_files"]:
        click.echo(f"  ignored: {counts['unmatched_files']} files matching no include pattern")
    for split, n in sorted(result.discovery.left_out_splits.items()):
        click.echo(f"  left out: {n} files in split '{split}' (listed in neither splits.augment nor splits.copy)")
    _print_labels(result.summary()["labels"], result.config.balance)
    if n_mixed:
        where = "beside their sources, with both images' objects" if result.discovery.annotation_format \
            else "under mixed/ (with soft_labels.csv)"
        click.echo(f"  mixed: {n_mixed} {result.config.image.mix.method} images {where}")
    for err in result.discovery.errors:
        click.echo(f"  will fail: {err['source']}: {err['reason']}")


def _print_labels(labels: list[dict], balance) -> None:
    """What balance plans per label of the augmented sources."""
    if balance is None or not labels:
        return
    click.echo(f"  balance (target {balance.target}, {balance.min_copies}-{balance.max_copies} copies per source):")
    rows = [("split", "label", "sources", "planned outputs", "total after")] + [
        (e["split"] or "", e["label"] + (f" ({e['table']} rows)" if e["table"] else ""), str(e["sources"]),
         str(e["planned_outputs"]), str(e["total_after"])) for e in labels]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        click.echo("    " + "  ".join(cells))
    short = [f"{e['label']} ({e['total_after']} of {e['target']})" for e in labels
             if e["total_after"] < e.get("target", 0)]
    if short:
        click.echo(f"  short of the target with max_copies {balance.max_copies}: {', '.join(short)}")


def _print_summary(result) -> None:
    counts = result.counts()
    written = counts["outputs_written"] + counts["originals_written"]
    rate = counts["outputs_written"] / result.seconds if result.seconds else 0.0
    # rows of a table and lines of a text file are samples of their own, many to a file
    files = counts["files_written"]
    total = (f"{written} files" if written == files
             else f"{written} samples, {files} file{'s' if files != 1 else ''},")
    click.echo(f"{result.status}: {counts['outputs_written']} augmented + {counts['originals_written']} "
               f"originals/copies = {total} in {result.seconds:.1f} s ({rate:.0f} augmented/s) "
               f"-> {result.config.output}")
    executor = result.executor
    if executor and executor["name"] != "local":
        where = f"a {executor['started']}" if executor["started"] else f"the {executor['name']} cluster"
        click.echo(f"ran on {where} at {executor['address']}: {executor['workers']} worker"
                   f"{'s' if executor['workers'] != 1 else ''} took part")
    if counts["failed"]:
        click.echo(f"{counts['failed']} of {counts['sources']} sources failed (listed in run.json)")
    for line in _problem_lines(result.errors):
        click.echo(line)
    if counts["dropped_unchanged"]:
        click.echo(f"dropped {counts['dropped_unchanged']} augmented samples identical to their source "
                   "(drop_unchanged)")
    if counts["reused"]:
        click.echo(f"kept {counts['reused']} outputs of an earlier run that still match (--fresh rewrites them)")
    if counts["stale_removed"]:
        click.echo(f"removed {counts['stale_removed']} files that this run no longer lists "
                   "(outputs of an earlier run that this config does not make, or of sources that failed)")
    warnings = result.warning_list()
    if warnings:
        click.echo(f"library messages ({len(warnings)} distinct, all in run.json):")
        for warning in warnings[:MAX_WARNINGS_SHOWN]:
            click.echo(f"  {warning['count']} x {warning['message']}")


_PROBLEM_WORDS = {  # an error entry's kind -> (one, many, what happened), worded by what it is, not as a source
    "image entry": ("image entry", "image entries", "left out"),
    "annotations": ("image id with annotations", "image ids with annotations", "naming no image entry"),
    "annotation file": ("annotation file", "annotation files", "not used"),
    "folder": ("folder", "folders", "not read: their files were not processed"),
    "file name": ("file", "files", "left out: their names are not UTF-8"),
    "aggregate": ("aggregate file", "aggregate files", "not made"),
}


def _problem_lines(errors: list[dict]) -> list[str]:
    """The error entries that are not failed sources, counted by what they are: entries of a COCO file by that
    file (``2 image entries of annotations/train.json left out``), the others by their kind."""
    groups: dict[tuple[str, str], int] = {}
    for err in errors:
        kind = err.get("kind")
        if kind is not None:
            key = (kind, err["source"] if kind in ("image entry", "annotations") else "")
            groups[key] = groups.get(key, 0) + 1
    lines = []
    for (kind, source), n in groups.items():
        one, many, what = _PROBLEM_WORDS.get(kind, (kind, kind, "failed"))
        lines.append(f"{n} {one if n == 1 else many}{f' of {source}' if source else ''} {what} (listed in run.json)")
    return lines


def _print_errors(errors: list[dict]) -> None:
    for err in errors[:MAX_ERRORS_SHOWN]:
        click.echo(f"failed: {err['source']}: {err['reason']}", err=True)
    if len(errors) > MAX_ERRORS_SHOWN:
        click.echo(f"... and {len(errors) - MAX_ERRORS_SHOWN} more (see run.json)", err=True)


def _exit_on_signal(signum: int, frame) -> None:
    """Ctrl-C or SIGTERM before a run took over its signals (loading libraries, reading the config):
    nothing was written; exit as a shell expects (click would say "Aborted!" and exit 1)."""
    os.write(2, b"interrupted\n")
    raise SystemExit(128 + signum)


class _ReaderGone:
    """sys.stdout or sys.stderr, which stops writing once its reader has gone (``augcli ... | head -c1``):
    the rest of the output is dropped, never an exception in the middle of the report; fd 1 or 2 then
    goes to /dev/null, so the interpreter's own last flush has nowhere to fail."""

    def __init__(self, stream, fd: int):
        self._stream, self._fd, self.gone = stream, fd, False

    def _drop(self) -> None:
        self.gone = True
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._fd)
        os.close(null)

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _reopen_closed_standard_fds() -> list[int]:
    """Standard fds the shell closed (``augcli run c.yaml >&-``) are opened on /dev/null, the numbers
    taken so that no file the run opens (the journal, a manifest) gets fd 1 or 2, where anything written
    to stdout or stderr would land in it. Returns the fds that were closed."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.append(fd)
    return closed


def main() -> None:
    """The ``augcli`` command. Output it cannot write never cuts a run short nor becomes a traceback: a run
    prints only once its work is done and recorded, a closed stdout or stderr drops what would go there
    (a closed stdout is said on stderr), a reader that stops reading (``| head``) ends the output, and
    the exit code is the command's own either way (docs/usage/index.md, "Exit codes")."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    closed = _reopen_closed_standard_fds()
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is not None:
            setattr(sys, name, _ReaderGone(getattr(sys, name), fd))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_on_signal)
    try:
        cli.main(prog_name="augcli", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            click.echo(str(exc.code), err=True)
    if 1 in closed:
        click.echo("augcli: standard output was closed, so nothing was printed on it (a run's summary is also "
                   "in its output folder's run.json)", err=True)
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> None:
    """Exit once the work is done and recorded, without the interpreter's teardown: freeing every object
    of the libraries (WordNet, nltk, scipy) one by one took 0.3 s after a 4-second run. What must happen at
    exit still does: the atexit handlers run, and the standard streams are flushed."""
    import atexit

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere: the normal exit
    multiprocessing = sys.modules.get("multiprocessing")
    if run_exit_functions is None or "joblib.externals.loky" in sys.modules or (
            multiprocessing is not None and multiprocessing.active_children()):
        # loky's workers (macOS, Windows, AUGCLI_WORKERS_START=loky) are told to stop by a hook of the
        # interpreter's own shutdown, which this exit would skip: they would be waited for until idle
        sys.exit(code)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a closed pipe or fd: nothing more to say
            stream.flush()
    with contextlib.suppress(Exception):  # what C libraries printed through stdio, as exit() would flush it
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os._exit(code)


if __name__ == "__main__":
    main()
