"""What image steps need of annotations, what they cannot carry, and what mixing cannot do on a
layout: checked before a run starts (by config checks and discovery), with why."""

from __future__ import annotations

from typing import Any

from augcli.errors import Problem

#: What a transform needs beyond the image, and why: checked before a run starts.
NEEDS = {
    "BBoxSafeRandomCrop": "bboxes", "RandomSizedBBoxSafeCrop": "bboxes", "AtLeastOneBBoxRandomCrop": "bboxes",
    "RandomCropNearBBox": "bboxes", "ConstrainedCoarseDropout": "bboxes",
    "MaskDropout": "mask", "CropNonEmptyMaskIfExists": "mask",
}
#: Steps that cannot carry annotations at all, and why: refused on an annotated dataset.
REFUSES = {"AugMix": "it mixes differently moved copies of the image, so boxes, masks and keypoints cannot "
                     "follow it; use RandAugment or TrivialAugmentWide on annotated images"}
#: What each format gives the pipeline.
PROVIDES = {"coco": {"bboxes"}, "yolo": {"bboxes"}, "voc": {"bboxes"}, "masks": {"mask"}}
#: Steps augcli cannot run on a single 2-D image, and why.
UNSUPPORTED = {
    "Mosaic": "it combines several images per output; augcli augments one source per output",
    **{name: "it is a 3D/volume transform; augcli augments 2-D images" for name in (
        "CenterCrop3D", "CoarseDropout3D", "CubicSymmetry", "Pad3D", "PadIfNeeded3D", "RandomCrop3D")},
    # a model's input, not an image: written to a file its floats around 0 come out black (Normalize's
    # ImageNet mean/std gave JPEGs of values 0-2, and verify passed them)
    **{name: "it makes a model's input (floats around 0), which an image file cannot hold: the written "
             "image comes out black; do it in your training pipeline" for name in ("Normalize", "ToFloat")},
}


def needs(steps: Any) -> dict[str, str]:
    """Transform name -> what it needs (``bboxes`` or ``mask``), for the steps a pipeline uses."""
    return {name: NEEDS[name] for name in sorted(step_names(steps)) if name in NEEDS}


def check_needs(steps: Any, fmt: str | None) -> list[tuple[str, str]]:
    """(step, reason) for each step whose annotations a dataset of format ``fmt`` does not have."""
    have = PROVIDES.get(fmt or "", set())
    out = []
    for name, need in needs(steps).items():
        if need not in have:
            what = "bounding boxes" if need == "bboxes" else "a segmentation mask per image"
            kind = "coco, yolo or voc" if need == "bboxes" else "masks (images/ + masks/ folders)"
            found = f"this dataset is read as {fmt}" if fmt else "no annotations were found"
            out.append((name, f"{name} needs {what}, and {found}; use a {kind} dataset "
                              f"(image.annotations.format) or remove the step"))
    if fmt in PROVIDES:
        out += [(name, f"{name} cannot be used on this {fmt} dataset: {REFUSES[name]}")
                for name in sorted(step_names(steps)) if name in REFUSES]
    return out


def step_names(steps: Any) -> set[str]:
    """Every transform name a pipeline config uses, compositions' children included."""
    names: set[str] = set()
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, str):
            names.add(step)
        elif isinstance(step, dict) and len(step) == 1:
            ((name, params),) = step.items()
            names.add(str(name))
            if isinstance(params, dict):
                names |= step_names(params.get("transforms"))
    return names


def config_problems(config: Any, fmt: str | None) -> list[Problem]:
    """What ``image.mix`` cannot do on a dataset of format ``fmt`` (checked before a run starts)."""
    settings = config.image.mix if config.image is not None else None
    if settings is not None and settings.method == "mixup" and fmt == "masks":
        return [Problem("image.mix.method", "is mixup, but a mask folder has one label per pixel, and a blend "
                                            "of two images has none; use method: cutmix (it pastes the partner's "
                                            "mask with its pixels)")]
    return []
