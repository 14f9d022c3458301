"""Tables split into row ranges: how many rows a CSV/TSV/JSONL has, and the ranges the plan makes.

A table is made by several tasks, each augmenting a range of its rows into a part file under
``OUTPUT/.augcli/parts/`` (augcli's own); the main process joins the parts in plan order into the
one table file (job.py). Rows keep their seeds (``path#row``, copy), so the bytes are the same
however the table is cut. The rows are counted by streaming the file once (the csv module finds
the row boundaries, quoted line breaks included); a count that is off only makes ranges uneven:
the last range runs to the end of the table.
"""

from __future__ import annotations

import codecs
import csv
import hashlib

from augcli.manifest import STATE_DIR

#: Rows per range: enough work per task (~1-2 s of nlpaug) that fan-out costs little, and so
#: many ranges in a big table that every worker gets some.
RANGE_ROWS = 2000
PARTS_DIR = f"{STATE_DIR}/parts"


def row_ranges(path: str, encoding: str, delimiter: str | None) -> list[tuple[int, int | None]] | None:
    """``[(start, stop), ...]`` covering every data row (the last stop None: to the end), or None
    to make the table in one task (small, unreadable here, or an encoding whose pieces cannot be
    joined, such as UTF-16 with its byte-order mark per piece)."""
    if not _known(encoding) or "".encode(encoding):
        return None
    n_rows = count_rows(path, encoding, delimiter)
    if n_rows is None or n_rows <= RANGE_ROWS:
        return None
    n_ranges = -(-n_rows // RANGE_ROWS)
    bounds = [n_rows * i // n_ranges for i in range(n_ranges)]
    return [(start, stop) for start, stop in zip(bounds, [*bounds[1:], None], strict=True)]


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def count_rows(path: str, encoding: str, delimiter: str | None) -> int | None:
    """Data rows of a table (JSONL: non-blank lines; CSV/TSV: non-empty records after the header),
    streamed; None if it does not read."""
    try:
        if delimiter is None:
            with open(path, "rb") as f:
                return sum(1 for line in f if line.strip())
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            encoding = "utf-8-sig"
        with open(path, encoding=encoding, newline="") as f:
            return max(0, sum(1 for record in csv.reader(f, delimiter=delimiter) if record) - 1)
    except (OSError, UnicodeDecodeError, csv.Error, LookupError):
        return None


def part_name(table: str, start: int) -> str:
    """The part file (relative to the output) holding one range of an output table."""
    folder = hashlib.sha256(table.encode()).hexdigest()[:16]
    return f"{PARTS_DIR}/{folder}/{start:012d}.part"


def range_key(relpath: str, start: int) -> str:
    """The journal's name for one range task of a table."""
    return f"{relpath}#rows={start}"
