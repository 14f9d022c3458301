"""Images with albumentations: build a pipeline from config; decode; apply with record; encode."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations 2.x calls home otherwise

import albumentations as A
import cv2
import numpy as np

from augcli.errors import ConfigError, ItemError, Problem, errors_in
from augcli.image_codec import JPEG_MAGIC, decode, encode, to_display
from augcli.io import read_file, sha256, write_atomic
from augcli.manifest import ManifestRow, applied_steps
from augcli.memo import remember_last
from augcli.modalities.image_steps import build_steps, transform_names
from augcli.modalities.image_steps import describe_steps as describe_steps  # the plug-in interface's
from augcli.naming import augmented_name
from augcli.samples import Cell, Sample, pick_samples
from augcli.seeding import generators, item_seed


def step_names() -> list[str]:
    """The names a pipeline step may use (the plug-in interface's name for ``transform_names``)."""
    return transform_names()


def resolve_paths(section: Any, base: Any) -> Any:
    """An image section names no resource files: it is used as validated."""
    return section


def check_section(section: dict, base: Any, path: str) -> list[Problem]:
    """Problems in the raw ``image`` section beyond its schema: its pipeline, and steps that need
    annotations the named format does not have (an undetected layout is checked at discovery)."""
    problems = check_pipeline(section["pipeline"], f"{path}.pipeline")
    annotations = section.get("annotations")
    fmt = annotations.get("format") if isinstance(annotations, dict) else None
    if fmt is not None:
        from augcli.annotations.rules import check_needs

        for _, reason in check_needs(section["pipeline"], None if fmt == "none" else fmt):
            problems.append(Problem(f"{path}.pipeline", reason))
    return problems


def check_pipeline(steps: list, path: str) -> list[Problem]:
    """Every problem in a pipeline config, each named by its YAML path; [] when it builds."""
    problems: list[Problem] = []
    build_steps(steps, path, problems)
    return problems


def build_pipeline(steps: list) -> A.Compose:
    problems: list[Problem] = []
    transforms = build_steps(steps, "image.pipeline", problems)
    if errors_in(problems):
        raise ConfigError(errors_in(problems))
    return A.Compose(transforms, p=1.0, save_applied_params=True)


@lru_cache(maxsize=8)
def _cached_pipeline(steps_json: str) -> A.Compose:
    return build_pipeline(json.loads(steps_json))


@remember_last
def pipeline_for(steps: list) -> A.Compose:
    """The pipeline for these steps, built once per process (workers reuse it for every item).

    Tasks of a chunk share one config object: the same ``steps`` list is answered without
    serialising it again.
    """
    return _cached_pipeline(json.dumps(steps, sort_keys=True, default=str))


def augment(pipeline: A.Compose, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[tuple[str, dict]]]:
    """Apply the pipeline with this output's seed; return the image and the applied steps.

    The whole tree draws from one generator pair seeded here. Not ``set_random_seed``: in
    albumentations 2.0 it gives every transform its own generator with the same seed, so
    independent ``p=0.5`` steps all apply or all skip together.

    albumentations computes on uint8 and float32: a 16-bit image goes through as float32 in
    [0, 1] and comes back as uint16, so its depth survives.
    """
    pipeline.set_random_state(*generators(seed))
    if image.dtype == np.uint16:
        result = pipeline(image=image.astype(np.float32) / 65535.0)
        out = np.clip(np.rint(result["image"] * 65535.0), 0, 65535).astype(np.uint16)
    else:
        result = pipeline(image=image)
        out = result["image"]
    return out, result["applied_transforms"]


def render(pipeline: A.Compose, decoded: np.ndarray, seed: int, suffix: str, quality: int | None,
           source: tuple[bytes, str] | None = None) -> tuple[bytes, list[tuple[str, dict]]]:
    """One output's file bytes and applied steps: what ``run`` writes, ``preview`` shows and
    ``verify`` regenerates.

    ``source`` is the source file's (bytes, name): when no step applied and the output has the
    source's format, the output *is* the source's bytes (lossless, and no encoding); its manifest
    row then has ``transforms: []`` and ``sha256`` equal to ``source_sha256``.
    """
    augmented, applied = augment(pipeline, decoded, seed)
    if not applied and source is not None and _same_pixels_as_file(source, suffix):
        return source[0], applied
    return encode(augmented, suffix, quality), applied


_SAME_FORMAT = {".jpeg": ".jpg", ".tif": ".tiff"}


def _same_pixels_as_file(source: tuple[bytes, str], suffix: str) -> bool:
    """Whether the source's bytes stand for the decoded image in a file ending in ``suffix``: the
    same format, and not a JPEG whose EXIF orientation ``decode`` applied (the pixels were turned)."""
    data, name = source
    ours, theirs = suffix.lower(), os.path.splitext(name)[1].lower()
    if _SAME_FORMAT.get(ours, ours) != _SAME_FORMAT.get(theirs, theirs):
        return False
    return not (data.startswith(JPEG_MAGIC) and b"Exif\x00\x00" in data[:65536])


def process(task: Any, config: Any, rows: list, fragments: list | None = None) -> int:
    """Worker: read a source once, place it, write its augmented copies; append a ManifestRow per file.

    An annotated image (COCO, YOLO, VOC, mask folder) goes through augcli.annotations, which
    moves its labels with the pixels and appends Fragments for the files made from many images.
    """
    if getattr(task.item, "annotations", None) is not None:
        from augcli.annotations import worker

        return worker.process(task, config, rows, fragments if fragments is not None else [])
    item, out_root = task.item, str(config.output)
    data = read_file(os.path.join(config.input, item.relpath))
    source_hash = sha256(data)
    decoded = decode(data, config.image.max_pixels) if task.outputs or item.mix else None  # once for all copies
    if task.original:
        write_atomic(os.path.join(out_root, task.original), data)
        rows.append(ManifestRow(item.relpath, task.original, item.modality, None, None, [], source_hash,
                                source_hash, item.label, item.split))
    if item.mix:  # mixup/cutmix outputs with partners the plan drew (augcli.mix)
        from augcli.mix import write_mixed

        write_mixed(item, config, decoded, source_hash, rows, fragments)
    if not task.outputs:
        return 0
    pipeline = pipeline_for(config.image.pipeline)
    for copy, (output, seed) in enumerate(zip(task.outputs, task.seeds, strict=True)):
        blob, applied = render(pipeline, decoded, seed, os.path.splitext(output)[1], config.image.quality,
                               (data, item.relpath))
        write_atomic(os.path.join(out_root, output), blob)
        rows.append(ManifestRow(item.relpath, output, item.modality, copy, seed, applied_steps(applied),
                                sha256(blob), source_hash, item.label, item.split))
    return 0


def planned_files(task: Any, config: Any) -> tuple[int, list[str]]:
    """What ``process`` will write for this task: the number of its own files (original, copies, mixed
    outputs, label files) and the aggregate files it contributes to (counted once per run)."""
    if getattr(task.item, "annotations", None) is not None:
        from augcli.annotations import worker

        return worker.planned_files(task, config)
    from augcli.mix import SOFT_LABELS

    return (len(task.outputs) + (task.original is not None) + len(task.item.mix),
            [SOFT_LABELS] if task.item.mix else [])


def finish(config: Any, target: str, datas: list[Any]) -> tuple[bytes, dict]:
    """An aggregate file from its fragments' data: soft_labels.csv of mixed images, or an annotation
    file (COCO JSON, VOC ImageSets list, YOLO data.yaml)."""
    from augcli import mix

    if target == mix.SOFT_LABELS:
        return mix.finish(config, target, datas)
    from augcli.annotations import worker

    return worker.finish(config, target, datas)


def preview(config: Any, items: list, n: int, copies: int, failed: list | None = None) -> list[Sample]:
    """``n`` of these image ``items`` spread across labels, each with ``copies`` copies made exactly as
    ``run`` makes them (an annotated image with its labels drawn); a source that fails has its error."""
    if not items:
        return []
    pipeline = pipeline_for(config.image.pipeline)
    samples = []
    for item in pick_samples(items, n):
        sample = Sample(item.relpath, item.label)
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                data = f.read()
            decoded = decode(data, config.image.max_pixels)
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
            blob, applied = render(pipeline, decoded, seed, suffix, config.image.quality, (data, item.relpath))
            written = decode(blob)  # show what the output file holds, codec and all
            sample.cells.append(Cell(to_display(written), f"copy {k}", applied_steps(applied), seed))
        samples.append(sample)
    return samples


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    import albucore

    return {"albumentations": A.__version__, "albucore": albucore.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__,
            "pycocotools": version("pycocotools")}  # rasterises and encodes COCO masks
