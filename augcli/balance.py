"""Class balancing: how many copies each source gets so that every label reaches a target.

Balancing changes which copies exist, never what a copy looks like: seeds stay per
(source, copy). Sources are grouped by (split, label); a label's missing outputs are spread
evenly over its sources, and which of them get one copy more is decided by the run seed,
spread across the label's sorted sources (systematic sampling with a seeded offset), not
clumped at the start. Sources without a label keep ``copies``. A table with a ``label`` column
is balanced by its rows, within the table (its copies are made per row in the worker). An
annotated image (a detection set) is balanced by its rarest class.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from augcli.dataset import AUGMENT, Item
from augcli.errors import AugcliError
from augcli.seeding import item_seed

NO_LABEL = "(none)"


def target_for(balance: Any, sizes: Sequence[int]) -> int:
    """Outputs per label the ``balance.target`` asks for, given the sources per label."""
    if balance.target == "max":
        return max(sizes, default=0)
    if balance.target == "median":
        return math.ceil(statistics.median(sizes)) if sizes else 0
    return int(balance.target)


def spread(config: Any, key: str, n_sources: int, target: int) -> list[int]:
    """Copies of each of a label's ``n_sources`` (in their sorted order) so the label totals
    ``target`` outputs (its originals included when they are kept), within min/max_copies."""
    balance = config.balance
    kept = n_sources if config.keep_originals else 0
    base, extra = divmod(max(0, target - kept), n_sources)
    copies = [base] * n_sources
    if extra:
        offset = item_seed(config.seed, f"balance:{key}", 0) / 2**32  # in [0, 1)
        for j in range(extra):  # evenly spaced, from a seeded start: never clumped
            copies[int((j + offset) * n_sources / extra)] += 1
    return [min(balance.max_copies, max(balance.min_copies, c)) for c in copies]


def _group_key(split: str | None, label: str | None) -> str:
    return f"{split or ''}/{label}"


def copies_per_source(config: Any, items: list[Item]) -> Callable[[Item], int]:
    """item -> its number of copies: ``config.copies``, or what ``balance`` plans for it."""
    if getattr(config, "balance", None) is None:
        return lambda item: config.copies
    labels_of = balance_labels(items)
    groups: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for item in items:
        if item.relpath in labels_of:
            groups[(item.split, labels_of[item.relpath])].append(item.relpath)
    planned: dict[str, int] = {}
    for split in {s for s, _ in groups}:
        labels = {label: sorted(paths) for (s, label), paths in groups.items() if s == split}
        target = target_for(config.balance, [len(paths) for paths in labels.values()])
        for label, paths in labels.items():
            planned.update(zip(paths, spread(config, _group_key(split, label), len(paths), target), strict=True))
    return lambda item: planned.get(item.relpath, config.copies)


def balance_labels(items: list[Item]) -> dict[str, str]:
    """relpath -> the label an augmented file is balanced by: an annotated image's rarest class
    (the class of its objects that the fewest images of its split hold), else its folder label.
    Tables (balanced by their rows) and unlabelled files are left out."""
    from augcli.naming import is_table

    classes: dict[str, tuple[str | None, set[str]]] = {}
    images_with: Counter = Counter()
    for item in items:
        objects = _objects(item)
        if item.action == AUGMENT and objects:
            classes[item.relpath] = (item.split, {str(obj.category) for obj in objects})
            images_with.update((item.split, c) for c in classes[item.relpath][1])
    labels = {}
    for item in items:
        if item.relpath in classes:
            split, cats = classes[item.relpath]
            labels[item.relpath] = min(cats, key=lambda c: (images_with[(split, c)], c))
        elif item.action == AUGMENT and item.label is not None and not (item.modality == "text"
                                                                          and is_table(item.relpath)):
            labels[item.relpath] = item.label
    return labels


def _objects(item: Item) -> tuple:
    """The annotated objects of an image (``Item.annotations``, from the annotation work), or ()."""
    annotations = getattr(item, "annotations", None)
    if annotations is None or getattr(annotations, "error", None):
        return ()
    return tuple(getattr(annotations, "objects", ()))


def table_copies(config: Any, relpath: str, labels: Sequence[str | None]) -> list[int]:
    """Copies of each row of a table whose rows have these labels (``copies`` each without balance)."""
    if getattr(config, "balance", None) is None:
        return [config.copies] * len(labels)
    rows: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        rows[NO_LABEL if label is None else str(label)].append(row)
    target = target_for(config.balance, [len(r) for label, r in rows.items() if label != NO_LABEL])
    copies = [config.copies] * len(labels)  # unlabelled rows keep copies
    for label, members in rows.items():
        if label != NO_LABEL:
            for row, k in zip(members, spread(config, f"{relpath}#{label}", len(members), target), strict=True):
                copies[row] = k
    return copies


def label_table(plan: Any, config: Any) -> list[dict[str, Any]]:
    """Per (split, label) of the augmented sources: sources, originals kept, planned copies, the
    total after the run and mixed outputs; a table's rows per label when balancing (``table`` names it)."""
    rows: dict[tuple[str | None, str, str | None], dict[str, Any]] = {}

    def add(split, label, table, sources, originals, copies, mixed=0):
        key = (split, NO_LABEL if label is None else str(label), table)
        entry = rows.setdefault(key, {"split": split, "label": key[1], "table": table, "sources": 0,
                                      "originals": 0, "planned_outputs": 0, "mixed_outputs": 0})
        entry["sources"] += sources
        entry["originals"] += originals
        entry["planned_outputs"] += copies
        entry["mixed_outputs"] += mixed  # image.mix: under mixed/ (beside an annotated source), not in a label folder

    from augcli.naming import is_table

    tasks = [task for task in plan.tasks if task.first]  # a table made in row ranges is one source
    labels_of = balance_labels([task.item for task in tasks])
    for task in tasks:
        item = task.item
        if item.action != AUGMENT:
            continue
        if item.modality == "text" and is_table(item.relpath):  # rows are the samples
            if config.balance is None:
                continue
            labels = _table_labels(config, item.relpath)
            for label, k in zip(labels, table_copies(config, item.relpath, labels), strict=True):
                add(item.split, label, item.relpath, 1, int(config.keep_originals), k)
            continue
        label = labels_of.get(item.relpath, item.label)
        add(item.split, label, None, 1, int(task.original is not None), len(task.outputs), len(item.mix))
    table = sorted(rows.values(), key=lambda e: (e["split"] or "", e["table"] or "", e["label"]))
    for entry in table:
        entry["total_after"] = entry["originals"] + entry["planned_outputs"]
    if config.balance is not None:  # what each balanced label aims at (a label can stay short: max_copies)
        balanced = [e for e in table if e["label"] != NO_LABEL]
        for group in {(e["split"], e["table"]) for e in balanced}:
            members = [e for e in balanced if (e["split"], e["table"]) == group]
            target = target_for(config.balance, [e["sources"] for e in members])
            for entry in members:
                entry["target"] = target
    return table


def _table_labels(config: Any, relpath: str) -> list[str | None]:
    from augcli.tables import decode_text, table_samples

    try:
        with open(config.input / relpath, "rb") as f:
            content, _ = decode_text(f.read(), config.text.encoding)
        return [label for _, label in table_samples(content, relpath, config.text)]
    except (OSError, ValueError, AugcliError):  # the worker reports an unreadable table, not the plan
        return []
