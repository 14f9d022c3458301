"""Items x copies -> ordered tasks with their output names and seeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from augcli.balance import copies_per_source
from augcli.config import Config
from augcli.dataset import AUGMENT, Item
from augcli.errors import DatasetError
from augcli.mix import with_partners
from augcli.seeding import item_seeds


@dataclass(frozen=True)
class Task:
    """All the work for one source: it is read and decoded once for every output."""

    item: Item
    original: str | None  # where the source is placed unchanged, or None
    outputs: tuple[str, ...]  # augmented output relpaths, one per copy
    seeds: tuple[int, ...]  # one per copy


@dataclass
class Plan:
    tasks: list[Task]

    @property
    def n_outputs(self) -> int:
        return sum(len(t.outputs) for t in self.tasks)

    @property
    def n_originals(self) -> int:
        return sum(t.original is not None for t in self.tasks)

    def output_paths(self) -> set[str]:
        return {p for t in self.tasks
                for p in (*t.outputs, *([t.original] if t.original else []), *(m.output for m in t.item.mix))}

    def breakdown(self) -> dict[str, dict[str, int]]:
        """Sources per split, per label and per action, for a dry run or a summary."""
        counts: dict[str, Counter] = {"split": Counter(), "label": Counter(), "action": Counter()}
        for t in self.tasks:
            counts["split"][t.item.split or "(none)"] += 1
            counts["label"][t.item.label or "(none)"] += 1
            counts["action"][t.item.action] += 1
        return {k: dict(sorted(v.items())) for k, v in counts.items()}


def augmented_name(relpath: str, copy: int, fmt: str | None) -> str:
    """``cats/001.jpg`` -> ``cats/001__aug0.jpg`` (with ``fmt`` replacing the suffix when set).

    PurePosixPath's stem and suffix rules, on the string (10x faster: one call per output)."""
    folder, slash, name = relpath.rpartition("/")
    dot = name.rfind(".")
    stem, suffix = (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")
    return f"{folder}{slash}{stem}__aug{copy}{f'.{fmt}' if fmt else suffix}"


TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")


def is_table(relpath: str) -> bool:
    return relpath.lower().endswith(TABLE_SUFFIXES)


def table_output_name(relpath: str, keep_originals: bool) -> str:
    """A table's augmented rows go to one table: under the source's name when it also holds the
    original rows (a complete training table), else ``reviews__aug.csv``."""
    if keep_originals:
        return relpath
    path = PurePosixPath(relpath)
    return str(path.with_name(f"{path.stem}__aug{path.suffix}"))


def output_format(config: Config, modality: str) -> str | None:
    """The suffix augmented outputs get instead of the source's, or None to keep it."""
    if modality == "image" and config.image:
        return config.image.format
    if modality == "audio" and config.audio and config.audio.features:
        return "npy"
    return None


def build_plan(config: Config, items: list[Item]) -> Plan:
    tasks = []
    copies_for = copies_per_source(config, items)  # config.copies, or what balance plans per source
    seeds_of = _seeds(config.seed, [item for item in items if item.action == AUGMENT], copies_for)
    for item in with_partners(config, items):  # image.mix: mixed outputs and their partners
        if item.action == AUGMENT and item.modality == "text" and is_table(item.relpath):
            # one output table holding every copy (and the originals); seeds are per row, drawn in the worker
            tasks.append(Task(item, None, (table_output_name(item.relpath, config.keep_originals),), ()))
            continue
        if item.action == AUGMENT:
            copies = range(copies_for(item))
            fmt = output_format(config, item.modality)
            outputs = tuple(augmented_name(item.relpath, k, fmt) for k in copies)
            seeds = seeds_of[item.relpath]
            original = item.relpath if config.keep_originals else None
        else:
            outputs, seeds, original = (), (), item.relpath
        tasks.append(Task(item, original, outputs, seeds))
    _check_collisions(tasks)
    return Plan(tasks)


def _seeds(seed: int, items: list[Item], copies_for) -> dict[str, tuple[int, ...]]:
    """relpath -> the seeds of its copies, derived in one vectorised call per copy count."""
    by_count: dict[int, list[str]] = {}
    for item in items:
        by_count.setdefault(copies_for(item), []).append(item.relpath)
    seeds_of: dict[str, tuple[int, ...]] = {}
    for count, relpaths in by_count.items():
        seeds_of.update(zip(relpaths, item_seeds(seed, relpaths, count), strict=True))
    return seeds_of


def _check_collisions(tasks: list[Task]) -> None:
    writers: dict[str, str] = {}
    for task in tasks:
        named = [(task.original, "original")] if task.original else []
        named += [(out, f"copy {k}") for k, out in enumerate(task.outputs)]
        for output, what in named:
            first = writers.setdefault(output.lower(), f"{task.item.relpath} ({what})")
            if first != f"{task.item.relpath} ({what})":
                raise DatasetError(
                    f"output name collision: {output} would be written for both {first} and "
                    f"{task.item.relpath} ({what}); rename or exclude one of the sources"
                )


def chunked(work: list, size: int) -> Iterator[list]:
    for start in range(0, len(work), size):
        yield work[start : start + size]


def chunk_size(n_tasks: int, n_workers: int) -> int:
    """Big enough that per-dispatch overhead is small, small enough to keep every worker busy."""
    return max(1, min(32, n_tasks // (n_workers * 8) or 1))
