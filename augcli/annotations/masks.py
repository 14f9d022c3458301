"""Mask folders (semantic segmentation): ``images/x.jpg`` with ``masks/x.png`` of the same stem.

Masks are read with Pillow so palette PNGs keep their indices and palette; albumentations
warps them with nearest-neighbour interpolation, so no label value appears that was not there.
"""

from __future__ import annotations

import io
import posixpath
from pathlib import Path
from typing import Any

import numpy as np

from augcli.annotations.layout import Layout, beside, split_of
from augcli.annotations.model import Annotations

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")


def _stem_key(relpath: str, folder: str) -> str | None:
    return beside(relpath, folder, "*", "")


def read(root: Path, relpaths: list[str], section: Any) -> Layout | None:
    masks = {}
    for r in relpaths:
        key = _stem_key(r, "masks")
        if key is not None and r.lower().endswith(MASK_SUFFIXES):
            masks[key] = r
    images = [r for r in relpaths if _stem_key(r, "images") is not None]
    if not masks or not images:
        return None
    layout = Layout()
    layout.owned |= set(masks.values())
    for relpath in images:
        layout.images.add(relpath)
        split = split_of(relpath.split("/"))
        if split:
            layout.splits[relpath] = split
        mask = masks.get(_stem_key(relpath, "images"))
        if mask is not None:
            layout.annotations[relpath] = Annotations("masks", mask, mask=mask)
    return layout


def read_mask(data: bytes, where: str, max_pixels: int | None = None) -> tuple[np.ndarray, dict]:
    """The mask's label values (indices for a palette PNG) and what is needed to write it alike;
    a mask of more than ``max_pixels`` (``image.max_pixels``) is refused from its header."""
    from PIL import UnidentifiedImageError

    from augcli.errors import ItemError
    from augcli.io import check_pixels, pil_size_check_lifted

    try:
        with pil_size_check_lifted() as Image, Image.open(io.BytesIO(data)) as img:
            if max_pixels is not None:
                check_pixels(img.size, max_pixels, len(data), f"{where}: the mask")
            img.load()
            info = {"mode": img.mode, "format": img.format}
            if img.mode == "P":
                info["palette"] = img.getpalette()
                if "transparency" in img.info:
                    info["transparency"] = img.info["transparency"]
            return np.array(img), info
    except UnidentifiedImageError:  # its message names the BytesIO object, with its address
        raise ItemError(f"{where}: cannot read the mask: not an image (PNG, BMP, TIFF...): "
                        "check the file or remove it") from None
    except OSError as exc:  # a truncated or corrupt image
        raise ItemError(f"{where}: cannot read the mask: {exc}: check the file or remove it") from None


def write_mask(mask: np.ndarray, info: dict, suffix: str) -> bytes:
    """The mask in its source's mode: a palette PNG keeps its palette (and transparency)."""
    from PIL import Image

    mask = np.ascontiguousarray(mask)
    if info["mode"] == "P":
        img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.astype(np.uint8).tobytes())
        img.putpalette(info["palette"])
    else:
        img = Image.fromarray(mask)
        if info["mode"] == "1":
            img = img.convert("1")
    buffer = io.BytesIO()
    params: dict[str, Any] = {}
    if "transparency" in info:
        params["transparency"] = info["transparency"]
    img.save(buffer, format=info.get("format") or suffix.lstrip(".").upper(), **params)
    return buffer.getvalue()


def mask_output(mask_relpath: str, image_output: str) -> str:
    """``masks/x.png`` for an image output ``images/x__aug0.jpg`` -> ``masks/x__aug0.png``."""
    stem = posixpath.splitext(posixpath.basename(image_output))[0]
    return posixpath.join(posixpath.dirname(mask_relpath), stem + posixpath.splitext(mask_relpath)[1])
