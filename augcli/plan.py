"""Items x copies -> ordered tasks with their output names and seeds."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from augcli.balance import copies_per_source
from augcli.config import MAX_COPIES, Config
from augcli.dataset import AUGMENT, Item
from augcli.errors import DatasetError
from augcli.mix import with_partners
from augcli.naming import is_table, name_parts, table_output_name
from augcli.seeding import item_seed, item_seeds


@dataclass(frozen=True)
class Task:
    """All the work for one source: it is read and decoded once for every output."""

    item: Item
    original: str | None  # where the source is placed unchanged, or None
    outputs: tuple[str, ...]  # augmented output relpaths, one per copy
    seeds: Sequence[int]  # one per copy (a Seeds, or a tuple)
    rows: tuple[int, int | None] | None = None  # a table made in row ranges: this task's rows [start, stop)

    @property
    def key(self) -> str:
        """The task's name in the journal: its source, or a range of a table's rows."""
        if self.rows is None:
            return self.item.relpath
        from augcli.tables import range_key

        return range_key(self.item.relpath, self.rows[0])

    @property
    def first(self) -> bool:
        """True for one task per source (a table's first range): what counts sources and outputs."""
        return self.rows is None or self.rows[0] == 0


@dataclass(frozen=True)
class Seeds(Sequence):
    """The seeds of one source's copies, each computed when it is read: ``item_seed`` costs ~12 µs,
    so a plan of millions of outputs would spend minutes on seeds that a dry run never reads."""

    seed: int
    relpath: str
    count: int
    values: tuple[int, ...] | None = field(default=None, compare=False, repr=False)  # once computed (prefetch)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):  # type: ignore[override]
        if self.values is not None:
            return self.values[index]
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self.count)))
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        return item_seed(self.seed, self.relpath, index)

    def __iter__(self) -> Iterator[int]:  # all of them at once: one vectorised call, not one SeedSequence each
        if self.values is not None:
            return iter(self.values)
        return iter(item_seeds(self.seed, [self.relpath], self.count)[0] if self.count > 1 else self[:])


def prefetch_seeds(tasks: Iterable[Task], block: int = 1 << 16) -> None:
    """Compute the seeds of many tasks in vectorised calls per (run seed, copies), ``block`` outputs each,
    instead of ~20 µs of SeedSequence per source. A call has a fixed cost of ~0.2 ms (some 300 numpy
    operations): the main process computes every task's seeds before the workers start (16 ms at 20,000
    sources, where each worker doing it for its chunks of 32 spent 7 µs a source)."""
    groups: dict[tuple[int, int], list[Seeds]] = {}
    for task in tasks:
        seeds = task.seeds
        if isinstance(seeds, Seeds) and seeds.values is None and seeds.count:
            groups.setdefault((seeds.seed, seeds.count), []).append(seeds)
    for (seed, count), group in groups.items():
        step = max(1, block // count)
        for start in range(0, len(group), step):
            part = group[start : start + step]
            for seeds, values in zip(part, item_seeds(seed, [s.relpath for s in part], count), strict=True):
                object.__setattr__(seeds, "values", values)  # frozen: the values are a cache of its fields


@dataclass
class Plan:
    tasks: list[Task]

    @property
    def n_outputs(self) -> int:
        return sum(len(t.outputs) for t in self.tasks if t.first)

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
            if not t.first:
                continue
            counts["split"][t.item.split or "(none)"] += 1
            counts["label"][t.item.label or "(none)"] += 1
            counts["action"][t.item.action] += 1
        return {k: dict(sorted(v.items())) for k, v in counts.items()}


def output_format(config: Config, modality: str) -> str | None:
    """The suffix augmented outputs get instead of the source's, or None to keep it."""
    if modality == "image" and config.image:
        return config.image.format
    if modality == "audio" and config.audio and config.audio.features:
        return "npy"
    return None


#: A plan this large is refused before anything is computed: seeding and naming 10 million outputs
#: takes minutes and gigabytes, which is a mistyped --copies far more often than a wish.
MAX_PLANNED_FILES = 10_000_000


def check_size(config: Config, items: list[Item], copies_for: Callable[[Item], int]) -> None:
    """Refuse a plan too big to be meant, before naming or seeding any output: copies, and the files that
    copies (or balance's copies per source) and mixed outputs make."""
    if config.copies > MAX_COPIES:
        raise DatasetError(f"copies: {config.copies:,} copies of each source is more than augcli makes "
                           f"({MAX_COPIES:,}); was it a typo?")
    augmented = [item for item in items if item.action == AUGMENT]
    mix = config.image.mix if config.image is not None else None
    mixed = mix.copies * sum(item.modality == "image" for item in augmented) if mix is not None else 0
    planned = sum(map(copies_for, augmented)) + mixed + len(items)
    if planned > MAX_PLANNED_FILES:
        how = " with balance's copies" if config.balance is not None else f" x {config.copies:,} copies"
        raise DatasetError(
            f"the plan would write about {planned:,} files ({len(augmented):,} sources{how}"
            f"{f', {mixed:,} mixed' if mixed else ''}), more than augcli plans in one run ({MAX_PLANNED_FILES:,}); "
            "lower copies (or balance.target), or split the input into several runs"
        )


def build_plan(config: Config, items: list[Item]) -> Plan:
    copies_for = copies_per_source(config, items)  # config.copies, or what balance plans per source
    check_size(config, items, copies_for)
    tasks = []
    for item in with_partners(config, items):  # image.mix: mixed outputs and their partners
        if item.action == AUGMENT and item.modality == "text" and is_table(item.relpath):
            # one output table holding every copy (and the originals); seeds are per row, drawn in the worker;
            # a big table is made by a task per range of rows, joined in order at the end of the run
            output = (table_output_name(item.relpath, config.keep_originals),)
            ranges = _row_ranges(config, item.relpath)
            tasks += [Task(item, None, output, (), rows) for rows in ranges or [None]]
            continue
        if item.action == AUGMENT:
            fmt = output_format(config, item.modality)
            head, suffix = name_parts(item.relpath, fmt)
            copies = copies_for(item)
            outputs = (f"{head}0{suffix}",) if copies == 1 else tuple(f"{head}{k}{suffix}" for k in range(copies))
            seeds = Seeds(config.seed, item.relpath, copies)
            original = item.relpath if config.keep_originals else None
        else:
            outputs, seeds, original = (), (), item.relpath
        tasks.append(Task(item, original, outputs, seeds))
    _check_collisions(tasks)
    return Plan(tasks)


def expected_outputs(tasks: list[Task], config: Config) -> dict[str, int]:
    """What each task is planned to write, by task key, for the progress bar: its files (copies, the
    original, mixed outputs), or for a table its samples (rows x (copies + the original)). A range's
    rows are known; the last range of a table is as long as the one before it (the plan cuts equal
    ranges); a table made in one task has at most tables.RANGE_ROWS rows, counted from the file."""
    expected, range_size = {}, {}
    for task in tasks:
        relpath = task.item.relpath
        if task.item.action != AUGMENT or not is_table(relpath):
            expected[task.key] = len(task.outputs) + (task.original is not None) + len(task.item.mix)
            continue
        start, stop = task.rows or (0, None)
        if stop is not None:
            rows = range_size[relpath] = stop - start
        elif start > 0:
            rows = range_size.get(relpath, start)
        else:
            from augcli.tables import count_rows

            rows = count_rows(str(config.input / relpath), config.text.encoding, _delimiter(relpath)) or 0
        expected[task.key] = rows * (config.copies + config.keep_originals)
    return expected


def _row_ranges(config: Config, relpath: str) -> list[tuple[int, int | None]] | None:
    from augcli.tables import row_ranges

    return row_ranges(str(config.input / relpath), config.text.encoding, _delimiter(relpath))


def _delimiter(relpath: str) -> str | None:
    return None if relpath.lower().endswith(".jsonl") else "\t" if relpath.lower().endswith(".tsv") else ","


def _check_collisions(tasks: list[Task]) -> None:
    writers: dict[str, tuple[Task, str]] = {}  # lower-cased output -> its first writer (described on a collision)
    for task in tasks:
        named = [(task.original, "original")] if task.original else []
        named += [(out, k) for k, out in enumerate(task.outputs)]
        named += [(mixed.output, f"mixed output {mixed.copy}") for mixed in task.item.mix]
        for output, what in named:
            first = writers.setdefault(output.lower(), (task, what))
            if first[0].item.relpath != task.item.relpath or first[1] != what:  # a table's ranges share one
                raise DatasetError(
                    f"output name collision: {output} would be written for both {_writer(*first)} and "
                    f"{_writer(task, what)}; rename or exclude one of the sources"
                )


def _writer(task: Task, what: str | int) -> str:
    return f"{task.item.relpath} ({f'copy {what}' if isinstance(what, int) else what})"


def chunked(work: list, size: int, n_workers: int = 1) -> Iterator[list]:
    """``work`` in chunks of ``size``, the last ``4 * n_workers`` of them a quarter as big: the
    workers then finish within a small chunk of each other instead of one waiting on a big one."""
    small = max(1, size // 4)
    tail = min(len(work), 4 * n_workers * small) if n_workers > 1 and small < size else 0
    head = len(work) - tail
    for start in range(0, head, size):
        yield work[start : min(start + size, head)]
    for start in range(head, len(work), small):
        yield work[start : start + small]


def chunk_size(n_tasks: int, n_workers: int) -> int:
    """Big enough that per-dispatch overhead is small, small enough to keep every worker busy."""
    return max(1, min(32, n_tasks // (n_workers * 8) or 1))


#: Keys that say which sources are refused, never what an output holds: raising one keeps the outputs made.
SIZE_LIMITS = {"max_pixels", "max_seconds", "max_chars"}


def run_digest(config: Config, modality: str, versions: dict[str, str]) -> str:
    """What the run decides for every augmented task of a modality, hashed: made once per run by the
    caller (``fingerprint``'s ``run``), not serialized again for each of 20,000 sources."""
    from augcli.version import __version__

    section = getattr(config, modality)
    shape = {"seed": config.seed, "copies": config.copies,
             "balance": config.balance.model_dump(mode="json") if config.balance else None,
             "keep_originals": config.keep_originals, "augcli": __version__, "libraries": versions,
             "section": section.model_dump(mode="json", exclude=SIZE_LIMITS) if section is not None else None}
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def fingerprint(task: Task, config: Config, versions: dict[str, str], run: str | None = None) -> str:
    """What shapes a task's outputs: a recorded output whose fingerprint still matches (and whose source
    and file still have their recorded sha256) can be kept on resume instead of being made again.

    A source copied unchanged depends on nothing but its place; an augmented one on its outputs,
    seeds, the run seed and copies (tables and lines derive per-sample seeds from them), its
    modality's config section and library versions, and augcli's version.
    """
    # Every field of the task and its item, by their dataclass repr (a field added later counts too): frozen
    # dataclasses of tuples, numbers, strings and dicts read from files, labels and mix partners included,
    # the same in any process (PYTHONHASHSEED does not enter). Seeds show their (seed, path, count).
    parts = [repr(task)]
    if task.item.action == AUGMENT:
        parts.append(run or run_digest(config, task.item.modality, versions))
    if task.item.mix:  # a mixed output is made from its partner too: a changed partner remakes it
        from augcli.io import sha256_file

        parts.append(repr({m.partner: sha256_file(config.input / m.partner) for m in task.item.mix}))
    blob = "\n".join(parts)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
