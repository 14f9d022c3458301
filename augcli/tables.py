"""Tables split into row ranges: how many rows a CSV/TSV/JSONL has, and the ranges the plan makes.

A table is made by several tasks, each augmenting a range of its rows into a part file under
``OUTPUT/.augcli/parts/`` (augcli's own); the main process joins the parts in plan order into the
one table file (job.py). Rows keep their seeds (``path#row``, copy), so the bytes are the same
however the table is cut. The rows are counted by streaming the file once (the csv module finds
the row boundaries, quoted line breaks included); a count that is off only makes ranges uneven:
the last range runs to the end of the table. How a table's text and rows read (its column or field,
its labels) is here too, so planning (balance) and the text modality read a table the same way.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from typing import Any

from augcli.errors import ItemError
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


def decode_text(data: bytes, encoding: str) -> tuple[str, bool]:
    """Text and whether it began with a UTF-8 byte-order mark (kept on output)."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        data, encoding = data[len(codecs.BOM_UTF8) :], "utf-8"
    try:
        return data.decode(encoding), bom
    except UnicodeDecodeError as exc:
        raise ItemError(f"not valid {encoding} text at byte offset {exc.start} "
                        f"(byte 0x{data[exc.start]:02x}); convert the file or set text.encoding") from None


def check_length(sample: str, max_chars: int, what: str) -> None:
    """A sample (a file, a line, a table field) longer than ``text.max_chars`` is refused."""
    if len(sample) > max_chars:
        raise ItemError(f"{what} is {len(sample):,} characters long, more than text.max_chars ({max_chars:,}): "
                        "set text.max_chars higher in the config to augment it, or exclude the file")


def table_samples(content: str, relpath: str, section: Any) -> list[tuple[str, str | None]]:
    """(text, label) of every row of a table, as ``run`` reads them."""
    if relpath.lower().endswith(".jsonl"):
        header, records, key = read_jsonl(content, section.field, section.max_chars)
    else:
        header, records, key = read_delimited(content, relpath, section.column, section.max_chars)
    return [(r[key] if isinstance(r[key], str) else ("" if r[key] is None else str(r[key])),
             label_of(r, header, key, None)) for r in records]


def delimiter_of(relpath: str) -> str:
    return "\t" if relpath.lower().endswith(".tsv") else ","


def read_delimited(text: str, relpath: str, column: str, max_chars: int) -> tuple[list[str], list[list[str]], int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(relpath))
    # the csv module's own cell limit (131,072 characters by default) would speak before text.max_chars
    csv_limit = csv.field_size_limit(max(max_chars + 1, csv.field_size_limit()))
    try:
        header = next(reader)
        if column not in header:
            raise ItemError(f"no column '{column}' in the header ({', '.join(header)}); set text.column")
        records = [r for r in reader if r]
    except StopIteration:
        raise ItemError("the table is empty: it has no header row") from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ItemError(f"a cell of line {reader.line_num} is more than text.max_chars ({max_chars:,}) "
                            "characters long: set text.max_chars higher in the config to augment it, "
                            "or exclude the file") from None
        raise ItemError(f"not a readable table at line {reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(csv_limit)
    for number, record in enumerate(records, start=2):
        if len(record) != len(header):
            raise ItemError(f"row {number} has {len(record)} cells, the header {len(header)}")
    key = header.index(column)
    for number, record in enumerate(records, start=2):
        check_length(record[key], max_chars, f"the '{column}' cell of row {number}")
    return header, records, key


def read_jsonl(text: str, field: str, max_chars: int) -> tuple[list[str], list[dict], str]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ItemError(f"line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict) or field not in record:
            raise ItemError(f"line {number} has no field '{field}'; set text.field")
        if not isinstance(record[field], str):  # written back as a string, it would change the original row
            shown = json.dumps(record[field], ensure_ascii=False)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise ItemError(f"line {number}: field '{field}' holds {shown}, not a string: make it text "
                            "(or remove the line) or exclude the file")
        check_length(record[field], max_chars, f"field '{field}' of line {number}")
        records.append(record)
    return [], records, field


def label_of(record: Any, header: list[str], key: Any, default: str | None) -> str | None:
    if isinstance(record, dict):
        value = record.get("label", default)
        return None if value is None else str(value)
    return record[header.index("label")] if "label" in header else default
