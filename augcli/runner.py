"""Fan tasks out over worker processes with joblib and stream results back in plan order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from augcli.config import Config
from augcli.errors import ItemError
from augcli.io import sha256, write_atomic
from augcli.manifest import ManifestRow
from augcli.plan import Task, chunk_size, chunked


@dataclass
class TaskResult:
    source: str
    rows: list[ManifestRow] = field(default_factory=list)  # files written, even if the task then failed
    error: str | None = None


def execute(tasks: list[Task], config: Config) -> Iterator[TaskResult]:
    """Results of every task, in plan order, as they complete. Stop iterating to cancel the rest."""
    n_workers = min(config.n_workers(), max(1, len(tasks)))
    chunks = chunked(tasks, chunk_size(len(tasks), n_workers))
    if n_workers == 1:
        for chunk in chunks:
            yield from process_chunk(chunk, config)
        return
    from joblib import Parallel, delayed  # only when fanning out

    parallel = Parallel(n_jobs=n_workers, backend="loky", return_as="generator", max_nbytes=None)
    for results in parallel(delayed(process_chunk)(chunk, config) for chunk in chunks):
        yield from results


def process_chunk(tasks: list[Task], config: Config) -> list[TaskResult]:
    """Worker entry point. Returns results; never prints and never raises for a bad item."""
    import cv2

    cv2.setNumThreads(0)  # one process per core already; OpenCV's own threads would oversubscribe
    results = []
    for task in tasks:
        result = process_task(task, config)
        results.append(result)
        if result.error and config.on_error == "fail":
            break
    return results


def process_task(task: Task, config: Config) -> TaskResult:
    result = TaskResult(task.item.relpath)
    try:
        _process_image(task, config, result.rows)
    except ItemError as exc:
        result.error = str(exc)
    except OSError as exc:
        result.error = f"{exc.strerror or exc} ({exc.filename or task.item.relpath})"
    except Exception as exc:  # a library failing on one item must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _process_image(task: Task, config: Config, rows: list[ManifestRow]) -> None:
    from augcli.manifest import applied_steps
    from augcli.modalities import image

    item, out_root = task.item, Path(config.output)
    data = (Path(config.input) / item.relpath).read_bytes()
    decoded = image.decode(data) if task.outputs else None  # once for all copies
    if task.original:
        write_atomic(out_root / task.original, data)
        rows.append(ManifestRow(item.relpath, task.original, item.modality, None, None, [], sha256(data),
                                item.label, item.split))
    if not task.outputs:
        return
    pipeline = image.pipeline_for(config.image.pipeline)
    for copy, (output, seed) in enumerate(zip(task.outputs, task.seeds, strict=True)):
        augmented, applied = image.augment(pipeline, decoded, seed)
        blob = image.encode(augmented, Path(output).suffix, config.image.quality)
        write_atomic(out_root / output, blob)
        rows.append(ManifestRow(item.relpath, output, item.modality, copy, seed, applied_steps(applied),
                                sha256(blob), item.label, item.split))
