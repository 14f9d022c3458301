"""One run: config -> discover -> plan -> fan-out -> manifest.jsonl + run.json -> RunResult."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from augcli.balance import label_table
from augcli.config import MODALITIES, Config, load_config
from augcli.dataset import AUGMENT, Discovery, discover
from augcli.errors import EXIT_ITEMS_FAILED, EXIT_OK, DatasetError
from augcli.io import write_atomic
from augcli.manifest import (
    MANIFEST_NAME,
    PARTIAL_SUFFIX,
    RUN_NAME,
    SCHEMA_VERSION,
    ManifestWriter,
    read_manifest,
)
from augcli.plan import Plan, build_plan
from augcli.runner import execute

Progress = Callable[[int, int], None]  # (sources done, sources in plan)


@dataclass
class RunResult:
    config: Config
    plan: Plan
    discovery: Discovery
    dry_run: bool = False
    status: str = "planned"  # planned | complete | stopped | interrupted
    outputs_written: int = 0
    originals_written: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    stale_removed: int = 0
    dropped_unchanged: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_ITEMS_FAILED if self.errors or self.status == "stopped" else EXIT_OK

    def counts(self) -> dict[str, int]:
        tasks = self.plan.tasks
        return {
            "sources": len(tasks),
            "augmented_sources": sum(t.item.action == AUGMENT for t in tasks),
            "copied_sources": sum(t.item.action != AUGMENT for t in tasks),
            "planned_outputs": self.plan.n_outputs,
            "planned_originals": self.plan.n_originals,
            "outputs_written": self.outputs_written,
            "originals_written": self.originals_written,
            "failed": len(self.errors),
            "dropped_unchanged": self.dropped_unchanged,
            "unmatched_files": self.discovery.unmatched,
            "stale_removed": self.stale_removed,
            "annotation_values_repaired": self.discovery.annotations_repaired,
        }

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary (``augcli run --json``)."""
        return {
            "status": self.status,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "input": str(self.config.input),
            "output": str(self.config.output),
            "counts": self.counts(),
            "breakdown": self.plan.breakdown(),
            "labels": label_table(self.plan, self.config),  # per (split, label): sources, outputs, total after
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
        }


def run(
    config: Config | str | os.PathLike | dict,
    *,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Augment a dataset as the config says. Raises ConfigError/DatasetError before writing anything."""
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    started = time.perf_counter()
    discovery = discover(config)
    if not discovery.items:
        patterns = {name: getattr(config, name).include for name in MODALITIES if getattr(config, name)}
        raise DatasetError(
            f"no files to process in {config.input}: nothing matches "
            + " or ".join(f"{name}.include {include}" for name, include in patterns.items())
            + "; check the patterns and the input folder"
        )
    plan = build_plan(config, discovery.items)
    previous = _previous_outputs(config.output)
    result = RunResult(config, plan, discovery, dry_run=dry_run)
    if dry_run:
        return result
    result.errors += discovery.errors  # files found but unusable (bad names, unreadable folders)

    wall_start = datetime.now(timezone.utc)
    try:
        config.output.mkdir(parents=True, exist_ok=True)
        writer = ManifestWriter(config.output)
    except OSError as exc:
        raise DatasetError(f"cannot write to the output folder {config.output}: {exc.strerror or exc}") from None
    done = 0
    result.status = "interrupted"
    fragments: dict[tuple[str, str], list] = {}  # ann's interim aggregate fold (rel's job.py replaces it)
    written: set[str] = set()
    try:
        for task_result in execute(plan.tasks, config):
            for line in task_result.rows:
                writer.write(line)
                written.add(json.loads(line)["output"])
            for fragment in task_result.fragments:
                fragments.setdefault((fragment.target, fragment.modality), []).append(fragment.data)
            result.originals_written += task_result.n_originals
            result.outputs_written += len(task_result.rows) - task_result.n_originals
            result.dropped_unchanged += task_result.dropped
            done += 1
            if progress:
                progress(done, len(plan.tasks))
            if task_result.error:
                result.errors.append({"source": task_result.source, "reason": task_result.error})
                if config.on_error == "fail":
                    result.status = "stopped"
                    break
        else:
            result.status = "complete"
            if discovery.audio_metadata:
                from augcli.modalities import audio

                for line in audio.rewrite_metadata(config, discovery.audio_metadata, plan.tasks):
                    writer.write(line)
                    result.originals_written += 1
            for line in _finish_aggregates(config, fragments):
                writer.write(line)
                written.add(json.loads(line)["output"])
                result.originals_written += 1
            result.stale_removed = _remove_stale(config.output, previous - plan.output_paths()
                                                 - set(discovery.audio_metadata) - written)
    finally:
        writer.close()  # the manifest lists exactly the files written, whatever stopped the run
        result.seconds = time.perf_counter() - started
        _write_run_json(result, wall_start)
    return result


def _finish_aggregates(config: Config, fragments: dict[tuple[str, str], list]) -> list[str]:
    """ann's interim fold of aggregate outputs (contract 1); rel's augcli/aggregate.py replaces it."""
    from augcli.io import sha256
    from augcli.manifest import ManifestRow

    lines = []
    for (target, modality), datas in sorted(fragments.items()):
        blob, extra = importlib.import_module(f"augcli.modalities.{modality}").finish(config, target, datas)
        write_atomic(config.output / target, blob)
        source = config.input / target
        source_hash = sha256(source.read_bytes()) if source.is_file() else sha256(blob)
        lines.append(ManifestRow(target, target, modality, None, None, [], sha256(blob), source_hash,
                                 extra={"aggregate": True, **extra}).to_json())
    return lines


def _previous_outputs(output: Path) -> set[str]:
    """Outputs a previous run recorded in ``output``; refuses a non-empty folder augcli did not write."""
    if not output.exists() or not any(output.iterdir()):
        return set()
    manifests = [output / MANIFEST_NAME, output / (MANIFEST_NAME + PARTIAL_SUFFIX)]
    if not any(m.is_file() for m in manifests):
        raise DatasetError(
            f"output folder {output} already holds files that augcli did not write (no {MANIFEST_NAME}); "
            "choose a new or empty folder"
        )
    previous = set()
    for manifest in manifests:
        if manifest.is_file():
            try:
                previous |= {row["output"] for row in read_manifest(manifest)}
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{manifest} is damaged ({exc}); delete it or choose another output") from None
    return previous


def _remove_stale(output: Path, stale: set[str]) -> int:
    """Delete files a previous run wrote that this run's plan no longer produces (copies 5 -> 3)."""
    removed = 0
    for relpath in sorted(stale):
        path = (output / relpath).resolve()
        if output in path.parents and path.is_file():
            path.unlink()
            removed += 1
    return removed


def library_versions(config: Config) -> dict[str, str]:
    """Versions of the libraries that shape this config's outputs (recorded; compared by verify)."""
    versions: dict[str, str] = {}
    for name in MODALITIES:
        if getattr(config, name) is not None:
            versions.update(importlib.import_module(f"augcli.modalities.{name}").library_versions())
    return versions


def _write_run_json(result: RunResult, started: datetime) -> None:
    from augcli import __version__

    record = {
        "schema_version": SCHEMA_VERSION,
        "augcli": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(result.config),
        "status": result.status,
        "config": result.config.to_plain(),
        "counts": result.counts(),
        "timings": {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(result.seconds, 3),
        },
        "errors": result.errors,
    }
    write_atomic(result.config.output / RUN_NAME, (json.dumps(record, indent=2) + "\n").encode())
