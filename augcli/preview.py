"""A picture of what a pipeline does: sources and the copies ``run`` would write, as a grid or gallery."""

from __future__ import annotations

import base64
import html
import os
from typing import Any

import cv2
import numpy as np

from augcli.config import Config
from augcli.dataset import AUGMENT, discover
from augcli.modalities.registry import plugin
from augcli.samples import BACKGROUND, CELL, Cell, Sample, TextSample

CAPTION_LINES = 4
LINE_HEIGHT = 13
CAPTION = CAPTION_LINES * LINE_HEIGHT + 6
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.36
MAX_COPIES_BY_DEFAULT = 4


def preview(config: Config, n: int = 8, copies: int | None = None) -> list[Sample]:
    """Augment ``n`` sources, spread across labels, ``copies`` times each, exactly as ``run`` would."""
    return _samples(config, "image", n, copies)


def text_preview(config: Config, n: int = 8, copies: int | None = None,
                 failed: list[tuple[str, str]] | None = None) -> list[TextSample]:
    """``n`` text samples spread across files, each augmented as ``run`` would (same seeds). A file that
    gives no samples (not readable, an empty table, no text column...) is appended to ``failed`` as
    (relpath, reason), as ``run`` records it, and the others are shown."""
    return _samples(config, "text", n, copies, failed)


def audio_preview(config: Config, n: int = 8, copies: int | None = None) -> list[Sample]:
    """``n`` clips spread across labels: spectrograms of the original and of the copies a run writes."""
    return _samples(config, "audio", n, copies)


def video_preview(config: Config, n: int = 8, copies: int | None = None) -> list[Sample]:
    """``n`` clips spread across labels: the first, middle and last frames of the original and of the copies a
    run writes (decoded from their bytes), one above the other."""
    return _samples(config, "video", n, copies)


def _samples(config: Config, modality: str, n: int, copies: int | None, failed: list | None = None) -> list:
    """What the modality's plug-in previews of its augmented sources (``preview`` in its module)."""
    copies = copies if copies is not None else min(config.copies, MAX_COPIES_BY_DEFAULT)
    items = [i for i in discover(config).items if i.action == AUGMENT and i.modality == modality]
    return plugin(modality).preview(config, items, n, copies, failed)


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


def clip_files(samples: list[Sample], folder: str) -> dict[str, bytes]:
    """The clips of an audio preview, named after their source and cell, to write beside the grid."""
    files = {}
    for sample in samples:
        base = sample.source.replace("/", "__").rsplit(".", 1)[0]
        for cell in sample.cells:
            if cell.clip is not None:
                files[os.path.join(folder, f"{base}__{cell.title.replace(' ', '')}{cell.clip_suffix}")] = cell.clip
    return files


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
    """The values a person reads (an angle, a scale {x, y}, a crop box), not what apply needs (a matrix, a map:
    those are in the manifest)."""
    shown = {k: _short(v) for k, v in params.items() if k != "shape"}
    return ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if value is None or isinstance(value, bool | int | str):
        return value
    numbers = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else None
    if numbers is None or not 0 < len(numbers) <= 8 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return None
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(str(_short(v)) for v in value) + "]"


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
