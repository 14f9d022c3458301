"""A picture of what a pipeline does: sources and the copies ``run`` would write, as a grid or gallery."""

from __future__ import annotations

import base64
import html
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from augcli.config import Config
from augcli.dataset import AUGMENT, Item, discover
from augcli.errors import ItemError
from augcli.image_codec import to_display
from augcli.manifest import applied_steps
from augcli.naming import augmented_name
from augcli.seeding import item_seed

CELL = 192  # image area of a grid cell, in pixels (square; images are letterboxed into it)
CAPTION_LINES = 4
LINE_HEIGHT = 13
CAPTION = CAPTION_LINES * LINE_HEIGHT + 6
BACKGROUND = (40, 40, 40)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.36
MAX_COPIES_BY_DEFAULT = 4


@dataclass
class Cell:
    image: np.ndarray  # BGR uint8, full size, as the output file decodes (audio: its log-mel spectrogram)
    title: str  # "original", "copy 2"
    steps: list[dict[str, Any]] = field(default_factory=list)  # applied steps, as in the manifest
    seed: int | None = None
    clip: bytes | None = None  # audio: the file bytes a run writes, to listen to
    clip_suffix: str = ""
    objects: dict[str, Any] | None = None  # annotated images: objects in / kept / dropped / clipped


@dataclass
class Sample:
    source: str
    label: str | None
    cells: list[Cell] = field(default_factory=list)
    error: str | None = None


def preview(config: Config, n: int = 8, copies: int | None = None) -> list[Sample]:
    """Augment ``n`` sources, spread across labels, ``copies`` times each, exactly as ``run`` would."""
    from augcli.modalities import image

    copies = copies if copies is not None else min(config.copies, MAX_COPIES_BY_DEFAULT)
    items = [i for i in discover(config).items if i.action == AUGMENT and i.modality == "image"]
    if not items:
        return []
    pipeline = image.pipeline_for(config.image.pipeline)
    samples = []
    for item in pick_samples(items, n):
        sample = Sample(item.relpath, item.label)
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                data = f.read()
            decoded = image.decode(data)
        except (ItemError, OSError) as exc:
            sample.error = str(exc)
            samples.append(sample)
            continue
        if item.annotations is not None:  # boxes, polygons, masks and keypoints drawn on every cell
            from augcli.annotations.worker import preview_cells

            try:
                sample.cells += [Cell(img, title, applied_steps(applied), seed, objects=objects)
                                 for img, title, applied, seed, objects in preview_cells(config, item, decoded, copies)]
            except (ItemError, OSError) as exc:
                sample.error = str(exc)
            samples.append(sample)
            continue
        sample.cells.append(Cell(to_display(decoded), "original"))
        for k in range(copies):
            seed = item_seed(config.seed, item.relpath, k)
            suffix = os.path.splitext(augmented_name(item.relpath, k, config.image.format))[1]
            blob, applied = image.render(pipeline, decoded, seed, suffix, config.image.quality, (data, item.relpath))
            written = image.decode(blob)  # show what the output file holds, codec and all
            sample.cells.append(Cell(to_display(written), f"copy {k}", applied_steps(applied), seed))
        samples.append(sample)
    return samples


@dataclass
class TextSample:
    source: str  # "train/reviews.csv row 3", "train/quotes.txt line 2"
    label: str | None
    original: str
    copies: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (text, applied steps)


def text_preview(config: Config, n: int = 8, copies: int | None = None,
                 failed: list[tuple[str, str]] | None = None) -> list[TextSample]:
    """``n`` text samples spread across files, each augmented as ``run`` would (same seeds). A file that
    gives no samples (not readable, an empty table, no text column...) is appended to ``failed`` as
    (relpath, reason), as ``run`` records it, and the others are shown."""
    from augcli.modalities import text
    from augcli.naming import is_table
    from augcli.runner import read_failure
    from augcli.tables import decode_text, table_samples

    copies = copies if copies is not None else min(config.copies, MAX_COPIES_BY_DEFAULT)
    items = [i for i in discover(config).items if i.action == AUGMENT and i.modality == "text"]
    pipeline = text.pipeline_for(config.text)
    per_file: list[list[tuple[str, str, str, str | None]]] = []  # (display, seed key, text, label)
    for item in pick_samples(items, n):
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                content, _ = decode_text(f.read(), config.text.encoding)
            samples = table_samples(content, item.relpath, config.text) if is_table(item.relpath) else []
        except (ItemError, OSError) as exc:
            if failed is not None:
                failed.append((item.relpath, read_failure(exc, str(config.input), item.relpath)
                               if isinstance(exc, OSError) else str(exc)))
            continue
        if is_table(item.relpath):
            units = [(f"{item.relpath} row {i}", f"{item.relpath}#{i}", body, label or item.label)
                     for i, (body, label) in enumerate(samples)]
        elif config.text.unit == "line":
            units = [(f"{item.relpath} line {i}", f"{item.relpath}:{i}", line, item.label)
                     for i, line in enumerate(content.splitlines()) if line.strip()]
        else:
            units = [(item.relpath, item.relpath, content, item.label)]
        per_file.append(units)
    chosen = [units[i] for i in range(max(map(len, per_file), default=0)) for units in per_file if i < len(units)][:n]
    result = []
    for display, key, body, label in chosen:
        sample = TextSample(display, label, body)
        for k in range(copies):
            sample.copies.append(text.augment(pipeline, body, item_seed(config.seed, key, k)))
        result.append(sample)
    return result


def changed_words(original: str, augmented: str) -> list[tuple[str, bool]]:
    """The augmented text's words, each marked True where it is not in the original's sequence."""
    import difflib

    before, after = original.split(), augmented.split()
    marks = [True] * len(after)
    for block in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_matching_blocks():
        for j in range(block.b, block.b + block.size):
            marks[j] = False
    return list(zip(after, marks, strict=True))


def text_table(samples: list[TextSample], color: bool) -> str:
    """The terminal view: each sample, then its copies with changed words highlighted."""
    lines = []
    for sample in samples:
        lines.append(f"{sample.source}" + (f"  [{sample.label}]" if sample.label else ""))
        lines.append(f"  original  {sample.original}")
        for k, (augmented, steps) in enumerate(sample.copies):
            words = " ".join(f"\x1b[1;33m{w}\x1b[0m" if (changed and color) else w
                             for w, changed in changed_words(sample.original, augmented))
            names = ", ".join(step["name"] for step in steps) or "no step applied"
            lines.append(f"  copy {k:<5} {words}   ({names})")
        lines.append("")
    return "\n".join(lines)


def text_markdown(samples: list[TextSample]) -> str:
    """The same as Markdown: a table per sample, changed words in bold."""
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", "<br>")

    out = ["# augcli text preview", ""]
    for sample in samples:
        out += [f"## {cell(sample.source)}" + (f" ({cell(sample.label)})" if sample.label else ""), "",
                "| | text | steps |", "|---|---|---|", f"| original | {cell(sample.original)} | |"]
        for k, (augmented, steps) in enumerate(sample.copies):
            words = " ".join(f"**{cell(w)}**" if changed else cell(w)
                             for w, changed in changed_words(sample.original, augmented))
            out.append(f"| copy {k} | {words} | {', '.join(step['name'] for step in steps)} |")
        out.append("")
    return "\n".join(out)


def audio_preview(config: Config, n: int = 8, copies: int | None = None) -> list[Sample]:
    """``n`` clips spread across labels: spectrograms of the original and of the copies a run writes."""
    from augcli.modalities import audio

    copies = copies if copies is not None else min(config.copies, MAX_COPIES_BY_DEFAULT)
    items = [i for i in discover(config).items if i.action == AUGMENT and i.modality == "audio"]
    pipeline = audio.pipeline_for(config.audio)
    samples = []
    for item in pick_samples(items, n):
        sample = Sample(item.relpath, item.label)
        suffix = os.path.splitext(item.relpath)[1]
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                data = f.read()
            clip, rate, info = audio.read(data)
        except (ItemError, OSError) as exc:
            sample.error = str(exc)
            samples.append(sample)
            continue
        clip, rate = audio.prepare(clip, rate, config.audio)
        original, _ = audio.write(clip, rate, info)
        sample.cells.append(Cell(spectrogram_image(clip, rate), "original", clip=original, clip_suffix=suffix))
        for k in range(copies):
            seed = item_seed(config.seed, item.relpath, k)
            augmented, applied = audio.augment(pipeline, clip, rate, seed)
            blob, _ = audio.write(augmented, rate, info)
            written, _, _ = audio.read(blob)  # what the output file holds, codec and all
            sample.cells.append(Cell(spectrogram_image(written, rate), f"copy {k}", applied_steps(applied), seed,
                                     clip=blob, clip_suffix=suffix))
        samples.append(sample)
    return samples


PIXELS_PER_SECOND = 48  # a 4 s clip fills a cell; a time-stretched copy is visibly narrower


def spectrogram_image(samples: np.ndarray, rate: int) -> np.ndarray:
    """A log-mel spectrogram as a colour image: cell-high, 48 px per second, low frequencies at
    the bottom, 80 dB of range."""
    from augcli.modalities import audio

    mel = audio.log_mel(samples, rate, n_mels=96, n_fft=1024, hop_length=max(1, rate // 100))
    scaled = np.clip((mel + 80.0) / 80.0 * 255.0, 0, 255).astype(np.uint8)[::-1]
    width = max(1, round(samples.shape[-1] / rate * PIXELS_PER_SECOND))
    image = cv2.resize(np.ascontiguousarray(scaled), (width, CELL), interpolation=cv2.INTER_AREA)
    return cv2.applyColorMap(image, cv2.COLORMAP_MAGMA)


def clip_files(samples: list[Sample], folder: str) -> dict[str, bytes]:
    """The clips of an audio preview, named after their source and cell, to write beside the grid."""
    files = {}
    for sample in samples:
        base = sample.source.replace("/", "__").rsplit(".", 1)[0]
        for cell in sample.cells:
            if cell.clip is not None:
                files[os.path.join(folder, f"{base}__{cell.title.replace(' ', '')}{cell.clip_suffix}")] = cell.clip
    return files


def pick_samples(items: list[Item], n: int) -> list[Item]:
    """``n`` items spread across labels (round robin), evenly spaced within each label; deterministic."""
    by_label: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_label[item.label or ""].append(item)
    labels = sorted(by_label)
    quota = dict.fromkeys(labels, 0)
    for i in range(min(n, len(items))):
        candidates = [lb for lb in labels if quota[lb] < len(by_label[lb])]
        quota[candidates[i % len(candidates)]] += 1
    picked = []
    for label in labels:
        group, q = by_label[label], quota[label]
        picked += [group[(j * len(group)) // q] for j in range(q)]
    return sorted(picked, key=lambda item: (item.label or "", item.relpath))


def fit_to_cell(image: np.ndarray, size: int = CELL) -> np.ndarray:
    """Scale to fit a ``size`` square, keeping the aspect ratio, centred on the background."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interpolation)
    canvas = np.full((size, size, 3), BACKGROUND, np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    canvas[y : y + nh, x : x + nw] = resized
    return canvas


def caption_lines(sample: Sample, cell: Cell) -> list[str]:
    head = f"{cell.title} - {sample.label}" if cell.title == "original" and sample.label else cell.title
    names = [step["name"] for step in cell.steps]
    if cell.title != "original" and not names:
        names = ["(no step applied)"]
    lines, current = [head], ""
    for name in names:
        candidate = f"{current} {name}".strip()
        if cv2.getTextSize(candidate, FONT, FONT_SCALE, 1)[0][0] > CELL - 8 and current:
            lines.append(current)
            current = name
        else:
            current = candidate
    if current:
        lines.append(current)
    if len(lines) > CAPTION_LINES:
        lines = [*lines[: CAPTION_LINES - 1], lines[CAPTION_LINES - 1] + " ..."]
    return lines


def grid_png(samples: list[Sample]) -> bytes:
    """One row per sample: the original then its copies, each captioned with its steps."""
    columns = max(len(s.cells) for s in samples if not s.error) if any(not s.error for s in samples) else 1
    height, width = CELL + CAPTION, CELL
    canvas = np.full((height * len(samples), width * columns, 3), BACKGROUND, np.uint8)
    for r, sample in enumerate(samples):
        top = r * height
        if sample.error:
            _text(canvas, [f"{sample.source}: cannot preview", sample.error[:60]], top + 20, 4)
            continue
        for c, cell in enumerate(sample.cells):
            left = c * width
            canvas[top : top + CELL, left : left + CELL] = fit_to_cell(cell.image)
            _text(canvas, caption_lines(sample, cell), top + CELL + LINE_HEIGHT, left + 4)
    ok, buffer = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("OpenCV failed to encode the preview grid")
    return buffer.tobytes()


def _text(canvas: np.ndarray, lines: list[str], baseline: int, left: int) -> None:
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (left, baseline + i * LINE_HEIGHT), FONT, FONT_SCALE, (235, 235, 235), 1,
                    cv2.LINE_AA)


def gallery_html(samples: list[Sample], config: Config, text_samples: list[TextSample] = ()) -> str:
    """One self-contained page (images inline, no network) with every sample and its steps."""
    rows = []
    for sample in text_samples:
        diffs = "".join(
            "<li>copy {}: {} <small>({})</small></li>".format(
                k, " ".join(f"<mark>{html.escape(w)}</mark>" if c else html.escape(w)
                            for w, c in changed_words(sample.original, augmented)),
                html.escape(", ".join(step["name"] for step in steps)))
            for k, (augmented, steps) in enumerate(sample.copies))
        rows.append(f"<section class=text><h2>{html.escape(sample.source)}</h2><p>{html.escape(sample.original)}</p>"
                    f"<ul>{diffs}</ul></section>")
    for sample in samples:
        head = f"<h2>{html.escape(sample.source)}" + (
            f" <span class=label>{html.escape(sample.label)}</span>" if sample.label else "") + "</h2>"
        if sample.error:
            rows.append(f"<section>{head}<p class=error>{html.escape(sample.error)}</p></section>")
            continue
        figures = "".join(_figure(cell) for cell in sample.cells)
        rows.append(f"<section>{head}<div class=row>{figures}</div></section>")
    n_images = sum(len(s.cells) for s in samples)
    return _PAGE.format(title=html.escape(f"augcli preview: {config.input.name}"), n_images=n_images,
                        n_samples=len(samples) + len(text_samples), body="\n".join(rows))


def _figure(cell: Cell) -> str:
    # JPEG keeps the page small; the PNG grid is the exact view
    ok, jpeg = cv2.imencode(".jpg", fit_to_cell(cell.image, 2 * CELL), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a preview image")
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
    steps = "".join(
        f"<li><b>{html.escape(step['name'])}</b> <code>{html.escape(_short_params(step['params']))}</code></li>"
        for step in cell.steps
    ) or ("<li><i>no step applied</i></li>" if cell.title != "original" else "")
    seed = f" <small>seed {cell.seed}</small>" if cell.seed is not None else ""
    if cell.objects is not None:
        o = cell.objects
        seed += (f"<br><small class=objects>objects: {o['in']} in, {o['kept']} kept"
                 + (f", dropped {html.escape(str(o['dropped']))}" if o["dropped"] else "")
                 + (f", clipped {html.escape(str(o['clipped']))}" if o["clipped"] else "") + "</small>")
    player = ""
    if cell.clip is not None:
        kind = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}.get(
            cell.clip_suffix.lower(), "audio/wav")
        player = (f"<audio controls preload=auto src=\"data:{kind};base64,"
                  f"{base64.b64encode(cell.clip).decode('ascii')}\"></audio>")
    return (f"<figure><img src=\"{src}\" alt=\"{html.escape(cell.title)}\">{player}"
            f"<figcaption>{html.escape(cell.title)}{seed}<ul>{steps}</ul></figcaption></figure>")


def _short_params(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k != "shape" and not isinstance(v, (list, dict))}
    return ", ".join(f"{k}={round(v, 3) if isinstance(v, float) else v}" for k, v in shown.items())


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; background: #1e1e1e; color: #ddd; margin: 1.5em; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1em; font-weight: 600; margin: 1.2em 0 .4em; }}
.label {{ background: #3a5; color: #fff; border-radius: 3px; padding: 0 .4em; font-weight: 400; }}
.row {{ display: flex; gap: 12px; flex-wrap: wrap; }}
figure {{ margin: 0; width: 384px; }} img {{ width: 384px; height: 384px; display: block; }}
figcaption ul {{ margin: .2em 0; padding-left: 1.2em; }} code {{ color: #9cf; font-size: .85em; }}
.error {{ color: #f88; }} mark {{ background: #664; color: #fff; }} audio {{ width: 384px; }}
</style></head>
<body>
<h1>{title}</h1>
<p id="status">{n_samples} samples, {n_images} images</p>
{body}
<script>
window.addEventListener("load", () => {{
  const images = [...document.images];
  const shown = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.body.dataset.rendered = shown;
  document.getElementById("status").textContent += ` (${{shown}} of ${{images.length}} rendered)`;
  const players = [...document.querySelectorAll("audio")];
  const count = () => {{
    document.body.dataset.playable = players.filter((a) => a.readyState >= 1 && a.duration > 0).length;
  }};
  players.forEach((a) => a.addEventListener("loadedmetadata", count));
  count();
}});
</script>
</body></html>
"""
