"""Re-derive outputs from manifest.jsonl + run.json and check every file against its recorded hash."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from augcli.config import Config, load_config
from augcli.dataset import walk_files
from augcli.errors import EXIT_ITEMS_FAILED, EXIT_OK, DatasetError
from augcli.io import sha256
from augcli.manifest import MANIFEST_NAME, RUN_NAME, is_own_file, read_manifest
from augcli.runner import fan_out


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the output folder
    problem: str  # missing | stray | changed | source missing | source changed | regenerates differently
    detail: str

    def __str__(self) -> str:
        return f"{self.problem}: {self.path}: {self.detail}"


@dataclass
class VerifyReport:
    files: int  # files the manifest lists
    hashed: int = 0  # of those, files whose bytes were hashed (all, or the --sample)
    regenerated: int = 0  # augmented outputs re-derived from their source and seed
    version_changes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_ITEMS_FAILED if self.findings else EXIT_OK


def verify(output_dir: str | os.PathLike, sample: int | None = None, workers: int | None = None) -> VerifyReport:
    """Check an output folder against its manifest; ``sample`` re-derives a deterministic subset."""
    output = Path(output_dir).resolve()
    run, rows = _read_records(output)
    try:
        config = load_config(run["config"])
    except Exception as exc:  # a recorded config that no longer loads: its input moved, say
        raise DatasetError(f"cannot re-create the run recorded in {output / RUN_NAME}: {exc}") from None

    report = VerifyReport(files=len(rows), version_changes=_version_changes(run.get("libraries", {}), config))
    listed = {row["output"] for row in rows}
    present = set(walk_files(output, include_hidden=True))
    report.findings += [Finding(p, "missing", "listed in the manifest but not on disk")
                        for p in sorted(listed - present)]
    report.findings += [Finding(p, "stray", "on disk but not in the manifest")
                        for p in sorted(present - listed) if not is_own_file(p)]

    chosen = [row for row in _sample(rows, sample) if row["output"] in present]
    groups: dict[str, list[dict]] = {}
    for row in chosen:
        if "sidecar_of" in row or "metadata_rows" in row:  # copied or rewritten files: hash checks only
            report.findings += _check_copied_file(row, config, output)
        else:  # by source, so each source is read and decoded once
            groups.setdefault(row["source"], []).append(row)
    cause = _likely_cause(report.version_changes)
    for findings, regenerated in fan_out(_verify_chunk, list(groups.items()), workers or config.n_workers(),
                                         config, str(output), cause):
        report.findings += findings
        report.regenerated += regenerated
    report.hashed = len(chosen)
    report.findings.sort(key=lambda f: (f.path, f.problem))
    return report


def _read_records(output: Path) -> tuple[dict, list[dict]]:
    for name in (RUN_NAME, MANIFEST_NAME):
        if not (output / name).is_file():
            raise DatasetError(f"{output} is not an augcli output folder: it has no {name}")
    try:
        run = json.loads((output / RUN_NAME).read_text(encoding="utf-8"))
        rows = read_manifest(output / MANIFEST_NAME)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the records in {output}: {exc}") from None
    return run, rows


def _sample(rows: list[dict], n: int | None) -> list[dict]:
    if n is None or n >= len(rows):
        return rows
    import numpy as np

    picked = np.random.default_rng(0).choice(len(rows), size=n, replace=False)
    return [rows[i] for i in sorted(picked)]


def _version_changes(recorded: dict[str, str], config: Config) -> list[str]:
    from augcli.job import library_versions

    now = library_versions(config)
    return [f"{name} {recorded[name]} (run) vs {now[name]} (now)"
            for name in sorted(recorded) if name in now and recorded[name] != now[name]]


def _likely_cause(version_changes: list[str]) -> str:
    if version_changes:
        return "likely cause: library versions differ from the run's: " + "; ".join(version_changes)
    return "the libraries are the run's versions, so the output is not reproducible here; please report it"


def _check_copied_file(row: dict, config: Config, output: Path) -> list[Finding]:
    with open(output / row["output"], "rb") as f:
        if sha256(f.read()) != row["sha256"]:
            return [Finding(row["output"], "changed", "its sha256 differs from the manifest: it was modified")]
    try:
        with open(os.path.join(config.input, row["source"]), "rb") as f:
            if sha256(f.read()) != row["source_sha256"]:
                return [Finding(row["output"], "source changed", f"{row['source']} is not the file the run read")]
    except OSError as exc:
        return [Finding(row["output"], "source missing", f"cannot read {row['source']}: {exc.strerror}")]
    return []


def _verify_chunk(groups: list[tuple[str, list[dict]]], config: Config, output: str, cause: str
                  ) -> list[tuple[list[Finding], int]]:
    from augcli.errors import ItemError

    results = []
    for source, rows in groups:
        try:
            results.append(_regenerate_and_compare(source, rows, config, output, cause))
        except (ItemError, OSError, ValueError) as exc:  # a source that no longer reads: a finding, not a crash
            results.append(([Finding(r["output"], "source unreadable", str(exc)) for r in rows], 0))
    return results


def _regenerate_and_compare(source: str, rows: list[dict], config: Config, output: str, cause: str
                            ) -> tuple[list[Finding], int]:
    """Regenerate every output of a source into a scratch folder with the run's own code, then
    compare with the manifest: a sample whose seed or hash regenerates differently means the run
    cannot be reproduced here; samples that all match but a file that differs mean the file was
    changed after the run."""
    import importlib
    import tempfile

    from augcli.dataset import AUGMENT, COPY, Item
    from augcli.plan import build_plan

    modality = rows[0]["modality"]
    augmented = any(r["copy"] is not None for r in rows)
    item = Item(source, modality, None, rows[0].get("split"), AUGMENT if augmented else COPY)
    (task,) = build_plan(config, [item]).tasks
    with tempfile.TemporaryDirectory(prefix=".augcli-verify-") as scratch:
        fresh: list = []
        importlib.import_module(f"augcli.modalities.{modality}").process(
            task, config.model_copy(update={"output": Path(scratch)}), fresh, [])
        if fresh and fresh[0].source_sha256 != rows[0].get("source_sha256", fresh[0].source_sha256):
            return [Finding(r["output"], "source changed", f"{source} is not the file the run read") for r in rows], 0
        key = lambda r: (r["output"], r["copy"], r.get("row"), r.get("line"))  # noqa: E731
        recorded = {key(r): (r["seed"], r["sha256"]) for r in rows}
        regenerated = {key(json.loads(r.to_json())): (r.seed, r.sha256) for r in fresh}
        findings = [Finding(k[0], "regenerates differently",
                            f"re-deriving {'it' if k[2] is None and k[3] is None else f'sample {k[1:]}'} from its "
                            f"source and seed does not give what the manifest records; {cause}")
                    for k in recorded if k in regenerated and regenerated[k] != recorded[k]]
        if not findings:
            for name in sorted({r["output"] for r in rows}):
                with open(os.path.join(scratch, name), "rb") as a, open(os.path.join(output, name), "rb") as b:
                    if a.read() != b.read():
                        findings.append(Finding(name, "changed", "its sha256 differs from the manifest: "
                                                                 "the file was modified after the run"))
    return findings, sum(r["copy"] is not None for r in rows)
