"""Mixup and CutMix offline: mixed images under ``OUTPUT/mixed/`` and their soft labels.

The plan gives each augmented image source ``image.mix.copies`` mixed outputs, each with a
partner drawn from the same augmented split (and label, with ``same_label``) by the output's
seed. The worker draws lambda (and CutMix's box centre) from the same seed, mixes the two
sources as read (the pipeline is not applied), and returns a fragment per output; the main
process folds them into ``mixed/soft_labels.csv`` (an aggregate output, through the image
modality's ``finish``). A partner of another size is resized to the source's size.

Annotated images (COCO, YOLO, VOC, mask folders) are mixed with partners from their own split and
labels (hard labels: both images' objects), written beside their sources in the dataset's layout
by ``augcli.annotations.mixing``; this module draws their partners and mixes their pixels.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from typing import Any

import numpy as np

from augcli.dataset import AUGMENT, Item, Mixed
from augcli.errors import ItemError
from augcli.io import read_file, sha256, write_atomic
from augcli.naming import MIXED_DIR, mixed_name
from augcli.seeding import item_seed

SOFT_LABELS = f"{MIXED_DIR}/soft_labels.csv"
DEFAULT_ALPHA = {"mixup": 0.4, "cutmix": 1.0}
STEP_NAMES = {"mixup": "MixUp", "cutmix": "CutMix"}
SOFT_LABEL_COLUMNS = ["file", "label_a", "weight_a", "label_b", "weight_b", "source", "partner", "method"]


def alpha_of(settings: Any) -> float:
    return settings.alpha if settings.alpha is not None else DEFAULT_ALPHA[settings.method]


def pool_of(item: Item, same_label: bool) -> tuple | None:
    """The partners an augmented image may be mixed with: its split's images (and label, with
    ``same_label``); an annotated image's, its split's annotated images (of the same COCO file,
    whose categories they share). None for an image with no labels to mix: one outside the
    annotated layout, one whose label file does not read, a mask-folder image without a mask."""
    ann = item.annotations
    if ann is None:
        return ("plain", item.split, item.label) if same_label else ("plain", item.split)
    if ann.format == "none" or ann.error or (ann.format == "masks" and ann.mask is None):
        return None
    return ("annotated", item.split, ann.source if ann.format == "coco" else None)


def with_partners(config: Any, items: list[Item]) -> list[Item]:
    """The items, each augmented image source with its planned mixed outputs (partners drawn here)."""
    settings = config.image.mix if config.image is not None else None
    if settings is None:
        return items
    pools: dict[tuple, list[Item]] = {}
    for item in items:
        if item.action == AUGMENT and item.modality == "image" and (key := pool_of(item, settings.same_label)):
            pools.setdefault(key, []).append(item)
    planned = []
    for item in items:
        key = pool_of(item, settings.same_label)
        if item.action != AUGMENT or item.modality != "image" or item.mix or key is None:  # verify passes recorded ones
            planned.append(item)
            continue
        partners = [p for p in pools[key] if p.relpath != item.relpath]
        annotated = item.annotations is not None
        mixes = []
        for k in range(settings.copies if partners else 0):
            seed = item_seed(config.seed, f"{item.relpath}#mix", k)
            partner = partners[int(np.random.default_rng([seed, 1]).integers(len(partners)))]
            mixes.append(Mixed(mixed_name(item.relpath, k, config.image.format, annotated), k, seed, partner.relpath,
                               partner.label, partner.annotations))
        planned.append(replace(item, mix=tuple(mixes)))
    return planned


def is_mixed(row: dict) -> bool:
    return bool(row.get("transforms")) and row["transforms"][0]["name"] in STEP_NAMES.values()


def conform(partner: np.ndarray, like: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """The partner with the source's channels, depth and size; how it was resized (or None)."""
    import cv2

    channels = lambda a: 1 if a.ndim == 2 else a.shape[2]  # noqa: E731
    if partner.dtype != like.dtype:
        partner = (partner.astype(np.uint32) * 257).astype(np.uint16) if like.dtype == np.uint16 \
            else np.rint(partner / 257.0).astype(np.uint8)
    if channels(partner) != channels(like):
        rgb = partner if partner.ndim == 3 else cv2.cvtColor(partner, cv2.COLOR_GRAY2RGB)
        rgb = rgb[:, :, :3]
        if channels(like) == 1:
            partner = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        elif channels(like) == 4:
            opaque = np.full(rgb.shape[:2], np.iinfo(like.dtype).max, like.dtype)
            partner = np.dstack([rgb, opaque])
        else:
            partner = np.ascontiguousarray(rgb)
    resized = None
    if partner.shape[:2] != like.shape[:2]:
        (h, w), (ph, pw) = like.shape[:2], partner.shape[:2]
        shrink = h <= ph and w <= pw
        resized = {"from": [ph, pw], "to": [h, w], "interpolation": "area" if shrink else "linear"}
        partner = cv2.resize(partner, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if partner.ndim == 2 and like.ndim == 3:  # OpenCV drops a trailing axis of 1
            partner = partner[:, :, None]
    return partner, resized


def mix_images(method: str, source: np.ndarray, partner: np.ndarray, seed: int, alpha: float
               ) -> tuple[np.ndarray, float, list[int] | None]:
    """(mixed image, weight of the source, CutMix box [x1, y1, x2, y2] or None), drawn from ``seed``."""
    rng = np.random.default_rng([seed, 0])
    lam = float(rng.beta(alpha, alpha))
    if method == "mixup":
        mixed = lam * source.astype(np.float64) + (1 - lam) * partner.astype(np.float64)
        top = np.iinfo(source.dtype).max
        return np.clip(np.rint(mixed), 0, top).astype(source.dtype), lam, None
    # CutMix (Yun et al. 2019): a box of area (1 - lam) around a uniform centre, clipped to the image
    h, w = source.shape[:2]
    cut = np.sqrt(1.0 - lam)
    cut_w, cut_h = int(w * cut), int(h * cut)
    cx, cy = int(rng.integers(w)), int(rng.integers(h))
    x1, x2 = int(np.clip(cx - cut_w // 2, 0, w)), int(np.clip(cx + cut_w // 2, 0, w))
    y1, y2 = int(np.clip(cy - cut_h // 2, 0, h)), int(np.clip(cy + cut_h // 2, 0, h))
    mixed = source.copy()
    mixed[y1:y2, x1:x2] = partner[y1:y2, x1:x2]
    return mixed, 1.0 - (x2 - x1) * (y2 - y1) / (w * h), [x1, y1, x2, y2]


def write_mixed(item: Item, config: Any, source: np.ndarray, source_hash: str, rows: list,
                fragments: list | None) -> None:
    """Worker: read each partner, mix, write; a manifest row per output and a soft-label fragment."""
    from augcli.image_codec import encode
    from augcli.manifest import ManifestRow, applied_steps

    settings = config.image.mix
    for planned in item.mix:
        partner_bytes, partner, resized = read_partner(config, planned, source)
        mixed, lam, box = mix_images(settings.method, source, partner, planned.seed, alpha_of(settings))
        blob = encode(mixed, os.path.splitext(planned.output)[1], config.image.quality)
        write_atomic(os.path.join(config.output, planned.output), blob)
        step = mix_step(settings, planned, partner_bytes, lam, box, resized)
        rows.append(ManifestRow(item.relpath, planned.output, "image", planned.copy, planned.seed,
                                applied_steps([step]), sha256(blob), source_hash, item.label, item.split))
        if fragments is not None:
            from augcli.aggregate import Fragment

            fragments.append(Fragment(SOFT_LABELS, "image", soft_label(planned, item, lam, settings.method)))


def read_partner(config: Any, planned: Mixed, like: np.ndarray) -> tuple[bytes, np.ndarray, dict | None]:
    """The partner's file bytes, its pixels conformed to the source ``like``, and how it was resized."""
    from augcli.image_codec import decode

    try:
        partner_bytes = read_file(os.path.join(config.input, planned.partner))
        partner, resized = conform(decode(partner_bytes, config.image.max_pixels), like)
    except (OSError, ItemError) as exc:  # name the partner: the source itself is fine
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ItemError(f"mix partner {planned.partner} of {planned.output}: {reason}") from None
    return partner_bytes, partner, resized


def mix_step(settings: Any, planned: Mixed, partner_bytes: bytes, lam: float, box: list[int] | None,
             resized: dict | None) -> tuple[str, dict[str, Any]]:
    """The applied step a mixed output's manifest row records (``verify`` makes it again from it)."""

    return STEP_NAMES[settings.method], {
        "partner": planned.partner, "partner_label": planned.partner_label, "partner_sha256": sha256(partner_bytes),
        "alpha": alpha_of(settings), "lambda": lam, **({"box": box} if box is not None else {}),
        "partner_resized": resized}


def soft_label(planned: Mixed, item: Item, lam: float, method: str) -> dict[str, Any]:
    """One row of soft_labels.csv: the file (relative to ``mixed/``) and its two labels' weights."""
    return {"file": planned.output.removeprefix(f"{MIXED_DIR}/"), "label_a": item.label, "weight_a": lam,
            "label_b": planned.partner_label, "weight_b": 1.0 - lam, "source": item.relpath,
            "partner": planned.partner, "method": method}


def finish(config: Any, target: str, datas: list[dict[str, Any]]) -> tuple[bytes, dict]:
    """``mixed/soft_labels.csv`` from the fragments' rows, in plan order (weights written exactly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SOFT_LABEL_COLUMNS)
    for data in datas:
        writer.writerow(["" if data[c] is None else repr(data[c]) if isinstance(data[c], float) else data[c]
                         for c in SOFT_LABEL_COLUMNS])
    return buffer.getvalue().encode("utf-8"), {"soft_label_rows": len(datas)}
