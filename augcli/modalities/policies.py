"""RandAugment, TrivialAugmentWide, AutoAugment and AugMix as pipeline steps made of albumentations' own ops.

Each policy is an albumentations composition. Its children are albumentations transforms built
once per reachable (op, signed magnitude), so the enclosing Compose gives them its generators,
bbox/keypoint processors and mask interpolation like any other step, and geometric ops (one
``Affine`` each) move boxes, masks and keypoints. The op lists, magnitude tables and sign rules
follow torchvision.transforms.v2 (``_auto_augment.py``); ``OPS`` below is the mapping to
albumentations, ``DEVIATIONS`` what differs. A call draws from the pipeline's generator pair
and records the ops it applied with their signed magnitudes (the manifest's ``params.ops``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import albumentations as A
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

# op -> (what the magnitude is, how it maps onto an albumentations transform). 0 is the identity
# for every op whose magnitude is a change (shear, translate, rotate, the four enhancements).
OPS: dict[str, tuple[str, str]] = {
    "Identity": ("-", "NoOp"),
    "ShearX": ("shear factor s = tan(angle)", "Affine(shear={x: atan(s) in degrees})"),
    "ShearY": ("shear factor s = tan(angle)", "Affine(shear={y: atan(s) in degrees})"),
    "TranslateX": ("fraction of the width (TrivialAugmentWide: pixels)", "Affine(translate_percent / translate_px x)"),
    "TranslateY": ("fraction of the height (TrivialAugmentWide: pixels)", "Affine(translate_percent / translate_px y)"),
    "Rotate": ("degrees", "Affine(rotate)"),
    "Brightness": ("factor - 1", "ColorJitter(brightness=1+m), other factors neutral"),
    "Color": ("factor - 1", "ColorJitter(saturation=1+m), other factors neutral"),
    "Contrast": ("factor - 1", "ColorJitter(contrast=1+m), other factors neutral"),
    "Sharpness": ("factor - 1", "m > 0: Sharpen(kernel, alpha=m/13, lightness=1); m < 0: GaussianBlur(3x3)"),
    "Posterize": ("bits kept", "Posterize(num_bits); 8 bits: NoOp"),
    "Solarize": ("threshold as a fraction of the maximum", "Solarize(threshold_range)"),
    "AutoContrast": ("-", "AutoContrast(method=pil)"),
    "Equalize": ("-", "Equalize(mode=pil)"),
    "Invert": ("-", "InvertImg"),
}
ZERO_IS_IDENTITY = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                    "Sharpness"}
DEVIATIONS = (
    "Shear is about the image centre (albumentations' Affine); torchvision shears about the top-left corner, "
    "which also shifts the image by s*h/2.",
    "Sharpness > 1 is exactly PIL's 3x3 enhance kernel inside the image (OpenCV reflects at the border, PIL "
    "leaves the outermost pixels as they were); Sharpness < 1 (blurring) is a 3x3 Gaussian blur with the same "
    "centre weight as PIL's blend, since albumentations has no blend with PIL's smoothing kernel.",
    "Posterize keeps 1 to 7 bits in albumentations: 8 bits is the identity (NoOp, as in torchvision); 0 bits "
    "(AugMix at severity 9-10), a black image in torchvision, is kept at 1 bit.",
    "Solarize inverts pixels >= threshold * 255 in both; at magnitude 0 of RandAugment the threshold is 255, "
    "so pure-white pixels become black (as in torchvision: it is not an identity).",
    "Rotate and shear signs follow albumentations' Affine; each signed magnitude is negated with probability "
    "1/2 in both, so the distributions agree.",
    "AugMix rounds the mixed image to the nearest integer (torchvision truncates).",
)


def _linear(top: float) -> Callable[[int], np.ndarray]:
    return lambda bins: np.linspace(0.0, top, bins)


def _bits(start: int, span: int) -> Callable[[int], np.ndarray]:
    return lambda bins: np.round(start - np.arange(bins) / ((bins - 1) / span)).astype(int)


NONE = None  # ops without a magnitude
_SOLARIZE = lambda bins: np.linspace(1.0, 0.0, bins)  # noqa: E731 (a table entry)
# op -> (magnitudes for a number of bins, signed). Translate: fraction of the size (torchvision:
# 150/331 of it in pixels, truncated, which albumentations' translate_percent also does).
_BASIC: dict[str, tuple[Callable[[int], np.ndarray] | None, bool]] = {
    "ShearX": (_linear(0.3), True),
    "ShearY": (_linear(0.3), True),
    "TranslateX": (_linear(150.0 / 331.0), True),
    "TranslateY": (_linear(150.0 / 331.0), True),
    "Rotate": (_linear(30.0), True),
    "Brightness": (_linear(0.9), True),
    "Color": (_linear(0.9), True),
    "Contrast": (_linear(0.9), True),
    "Sharpness": (_linear(0.9), True),
    "Posterize": (_bits(8, 4), False),
    "Solarize": (_SOLARIZE, False),
    "AutoContrast": (NONE, False),
    "Equalize": (NONE, False),
}
RANDAUGMENT_SPACE = {"Identity": (NONE, False), **_BASIC}
AUTOAUGMENT_SPACE = {**_BASIC, "Invert": (NONE, False)}
TRIVIALAUGMENT_SPACE = {
    "Identity": (NONE, False),
    "ShearX": (_linear(0.99), True),
    "ShearY": (_linear(0.99), True),
    "TranslateX": (_linear(32.0), True),  # pixels
    "TranslateY": (_linear(32.0), True),
    "Rotate": (_linear(135.0), True),
    "Brightness": (_linear(0.99), True),
    "Color": (_linear(0.99), True),
    "Contrast": (_linear(0.99), True),
    "Sharpness": (_linear(0.99), True),
    "Posterize": (_bits(8, 6), False),
    "Solarize": (_SOLARIZE, False),
    "AutoContrast": (NONE, False),
    "Equalize": (NONE, False),
}
AUGMIX_SPACE = {
    "ShearX": (_linear(0.3), True),
    "ShearY": (_linear(0.3), True),
    "TranslateX": (_linear(1.0 / 3.0), True),
    "TranslateY": (_linear(1.0 / 3.0), True),
    "Rotate": (_linear(30.0), True),
    "Posterize": (_bits(4, 4), False),
    "Solarize": (_SOLARIZE, False),
    "AutoContrast": (NONE, False),
    "Equalize": (NONE, False),
    "Brightness": (_linear(0.9), True),  # the last four only with all_ops
    "Color": (_linear(0.9), True),
    "Contrast": (_linear(0.9), True),
    "Sharpness": (_linear(0.9), True),
}
AUGMIX_PARTIAL = tuple(AUGMIX_SPACE)[:9]
AUGMIX_BINS = 10

# AutoAugment's learned sub-policies: ((op, probability, magnitude bin of 10), (op, probability, bin)).
AUTOAUGMENT_POLICIES: dict[str, list[tuple[tuple[str, float, int | None], ...]]] = {
    "imagenet": [
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)), (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)), (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)), (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)), (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)), (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ],
    "cifar10": [
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)), (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)), (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)), (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)), (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)), (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)), (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)), (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)), (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)), (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)), (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)), (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)), (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ],
    "svhn": [
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)), (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)), (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)), (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)), (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)), (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)), (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)), (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)), (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)), (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)), (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ],
}
ANNOTATION_KEYS = ("mask", "masks", "bboxes", "keypoints")


def albumentations_op(op: str, magnitude: float | None, *, interpolation: int = cv2.INTER_NEAREST,
                      fill: Any = 0, translate_in_pixels: bool = False) -> A.BasicTransform:
    """The albumentations transform that applies ``op`` at this signed magnitude (always, p=1)."""
    m = 0.0 if magnitude is None else float(magnitude)
    if op == "Identity" or (op in ZERO_IS_IDENTITY and m == 0.0) or (op == "Posterize" and int(m) >= 8):
        return A.NoOp(p=1.0)
    affine = {"interpolation": interpolation, "fill": fill, "border_mode": cv2.BORDER_CONSTANT, "p": 1.0}
    if op in ("ShearX", "ShearY"):
        degrees = math.degrees(math.atan(m))
        axis = "x" if op == "ShearX" else "y"
        return A.Affine(shear={axis: (degrees, degrees), "xy".replace(axis, ""): (0.0, 0.0)}, **affine)
    if op in ("TranslateX", "TranslateY"):
        axis, other = ("x", "y") if op == "TranslateX" else ("y", "x")
        if translate_in_pixels:
            return A.Affine(translate_px={axis: (int(m), int(m)), other: (0, 0)}, **affine)
        return A.Affine(translate_percent={axis: (m, m), other: (0.0, 0.0)}, **affine)
    if op == "Rotate":
        return A.Affine(rotate=(m, m), **affine)
    if op in ("Brightness", "Color", "Contrast"):
        factors = {"brightness": (1.0, 1.0), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0), "hue": (0.0, 0.0)}
        factors[{"Brightness": "brightness", "Color": "saturation", "Contrast": "contrast"}[op]] = (1 + m, 1 + m)
        return A.ColorJitter(**factors, p=1.0)
    if op == "Sharpness":
        if m > 0:  # PIL: img + m * (img - smooth), smooth = [[1,1,1],[1,5,1],[1,1,1]] / 13
            return A.Sharpen(alpha=(m / 13, m / 13), lightness=(1.0, 1.0), method="kernel", p=1.0)
        sigma = _blur_sigma(-m)
        return A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(sigma, sigma), p=1.0)
    if op == "Posterize":
        bits = max(1, int(m))
        return A.Posterize(num_bits=bits, p=1.0)
    if op == "Solarize":
        return A.Solarize(threshold_range=(m, m), p=1.0)
    if op == "AutoContrast":
        return A.AutoContrast(method="pil", p=1.0)
    if op == "Equalize":
        return A.Equalize(mode="pil", by_channels=True, p=1.0)
    if op == "Invert":
        return A.InvertImg(p=1.0)
    raise ValueError(f"unknown policy op {op!r}")


def _blur_sigma(amount: float) -> float:
    """Sigma of a 3x3 Gaussian whose centre weight is that of PIL's blend towards its smoothing
    kernel by ``amount`` (1 - 8 * amount / 13)."""
    centre = math.sqrt(1 - 8 * amount / 13)  # 1-D centre weight
    side = (1 - centre) / (2 * centre)  # side / centre = exp(-1 / (2 sigma^2))
    return math.sqrt(-1 / (2 * math.log(side)))


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    interpolation: Literal[0, 1, 2, 3, 4] = cv2.INTER_NEAREST
    fill: float | list[float] = 0
    p: float = Field(default=1.0, ge=0, le=1)


class _Policy(A.BaseCompose):
    """What the four policies share: children per reachable (op, signed magnitude), and the record."""

    space: ClassVar[dict[str, tuple[Callable[[int], np.ndarray] | None, bool]]] = {}
    translate_in_pixels = False

    def __init__(self, settings: _Params, reachable: Iterator[tuple[str, float | None]]):
        self._index: dict[tuple[str, float | None], int] = {}
        children = []
        for key in reachable:
            if key not in self._index:
                self._index[key] = len(children)
                children.append(albumentations_op(*key, interpolation=settings.interpolation, fill=settings.fill,
                                                  translate_in_pixels=self.translate_in_pixels))
        super().__init__(children, p=settings.p)
        self.settings = settings
        self.params: dict[str, Any] = {}  # what the last call applied: the enclosing Compose records it

    @classmethod
    def _validated(cls, schema: type[BaseModel], **params: Any) -> Any:
        try:
            return schema(**params)
        except ValidationError as exc:
            raise ValueError(f"invalid {cls.__name__} parameters") from exc  # fields named by the cause

    def _signed(self, op: str, values: np.ndarray | None, index: int) -> float | None:
        """The magnitude at ``index``, negated with probability 1/2 for a signed op."""
        if values is None:
            return None
        value = values[index].item()
        if self.space[op][1] and self.py_random.random() < 0.5:
            value = -value
        return abs(value) if value == 0 else value  # never -0.0

    def _apply(self, op: str, magnitude: float | None, data: dict[str, Any]) -> tuple[dict[str, Any], dict]:
        child = self.transforms[self._index[(op, magnitude)]]
        data = child(force_apply=True, **data)
        data = self.check_data_post_transform(data)
        return data, {"op": op, "magnitude": magnitude, "transform": type(child).__name__,
                      "params": dict(child.params)}

    def _values(self, op: str, bins: int) -> np.ndarray | None:
        make = self.space[op][0]
        return None if make is None else make(bins)

    def _signed_keys(self, op: str, values: np.ndarray | None, indices) -> Iterator[tuple[str, float | None]]:
        if values is None:
            yield op, None
            return
        for i in indices:
            value = values[i].item()
            yield op, value
            if self.space[op][1] and value != 0:
                yield op, -value

    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> dict[str, Any]:
        self.params = {}
        if self.p < 1 and not force_apply and self.py_random.random() >= self.p:
            return data
        data, record = self._run(data)
        self.params = record
        return data

    def _run(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict]:
        raise NotImplementedError


class _RandAugmentParams(_Params):
    num_ops: int = Field(default=2, ge=0)
    num_magnitude_bins: int = Field(default=31, ge=2)
    magnitude: int = Field(default=9, ge=0)  # after num_magnitude_bins, which its check reads

    @field_validator("magnitude")
    @classmethod
    def _magnitude_is_a_bin(cls, value: int, info: ValidationInfo) -> int:
        bins = info.data.get("num_magnitude_bins")
        if bins is not None and value >= bins:
            raise ValueError(f"must be below num_magnitude_bins ({bins}): it picks one of the bins 0 to {bins - 1}")
        return value


class RandAugment(_Policy):
    """RandAugment (Cubuk et al. 2019): num_ops ops drawn uniformly, all at one magnitude bin.

    torchvision.transforms.v2.RandAugment's op list and magnitudes, made of albumentations ops.
    """

    space = RANDAUGMENT_SPACE

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: int = cv2.INTER_NEAREST, fill: Any = 0, p: float = 1.0):
        s = self._validated(_RandAugmentParams, num_ops=num_ops, magnitude=magnitude,
                            num_magnitude_bins=num_magnitude_bins, interpolation=interpolation, fill=fill, p=p)
        self.num_ops, self.magnitude, self.num_magnitude_bins = s.num_ops, s.magnitude, s.num_magnitude_bins
        keys = (key for op in self.space
                for key in self._signed_keys(op, self._values(op, s.num_magnitude_bins), [s.magnitude]))
        super().__init__(s, keys)

    def _run(self, data):
        ops = []
        names = list(self.space)
        for _ in range(self.num_ops):
            op = names[self.py_random.randrange(len(names))]
            magnitude = self._signed(op, self._values(op, self.num_magnitude_bins), self.magnitude)
            data, done = self._apply(op, magnitude, data)
            ops.append(done)
        return data, {"ops": ops}


class _TrivialParams(_Params):
    num_magnitude_bins: int = Field(default=31, ge=2, le=101)


class TrivialAugmentWide(_Policy):
    """TrivialAugment Wide (Müller & Hutter 2021): one op, one magnitude bin, both uniform.

    torchvision.transforms.v2.TrivialAugmentWide's op list and wide magnitudes, made of albumentations ops.
    """

    space = TRIVIALAUGMENT_SPACE
    translate_in_pixels = True

    def __init__(self, num_magnitude_bins: int = 31, interpolation: int = cv2.INTER_NEAREST, fill: Any = 0,
                 p: float = 1.0):
        s = self._validated(_TrivialParams, num_magnitude_bins=num_magnitude_bins, interpolation=interpolation,
                            fill=fill, p=p)
        self.num_magnitude_bins = s.num_magnitude_bins
        bins = range(s.num_magnitude_bins)
        keys = (key for op in self.space for key in self._signed_keys(op, self._values(op, s.num_magnitude_bins), bins))
        super().__init__(s, keys)

    def _run(self, data):
        names = list(self.space)
        op = names[self.py_random.randrange(len(names))]
        values = self._values(op, self.num_magnitude_bins)
        magnitude = None if values is None else self._signed(op, values, self.py_random.randrange(len(values)))
        data, done = self._apply(op, magnitude, data)
        return data, {"ops": [done]}


class _AutoAugmentParams(_Params):
    policy: str = "imagenet"

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        from augcli.errors import suggest

        if value not in AUTOAUGMENT_POLICIES:
            known = list(AUTOAUGMENT_POLICIES)
            raise ValueError(f"unknown policy '{value}'{suggest(value, known)}; one of {', '.join(known)}")
        return value


class AutoAugment(_Policy):
    """AutoAugment (Cubuk et al. 2018): one of the 25 learned sub-policies of imagenet, cifar10 or svhn.

    torchvision.transforms.v2.AutoAugment's sub-policies and magnitudes, made of albumentations ops.
    """

    space = AUTOAUGMENT_SPACE

    def __init__(self, policy: str = "imagenet", interpolation: int = cv2.INTER_NEAREST, fill: Any = 0,
                 p: float = 1.0):
        s = self._validated(_AutoAugmentParams, policy=policy, interpolation=interpolation, fill=fill, p=p)
        self.policy = s.policy
        self.subpolicies = AUTOAUGMENT_POLICIES[s.policy]
        keys = (key for sub in self.subpolicies for op, _, index in sub
                for key in self._signed_keys(op, self._values(op, 10), [index]))
        super().__init__(s, keys)

    def _run(self, data):
        chosen = self.py_random.randrange(len(self.subpolicies))
        ops = []
        for op, probability, index in self.subpolicies[chosen]:
            if self.py_random.random() >= probability:
                continue
            magnitude = self._signed(op, self._values(op, 10), index)
            data, done = self._apply(op, magnitude, data)
            ops.append(done)
        return data, {"subpolicy": chosen, "ops": ops}


class _AugMixParams(_Params):
    severity: int = Field(default=3, ge=1, le=AUGMIX_BINS)
    mixture_width: int = Field(default=3, ge=1)
    chain_depth: int = -1
    alpha: float = Field(default=1.0, gt=0)
    all_ops: bool = True
    interpolation: Literal[0, 1, 2, 3, 4] = cv2.INTER_LINEAR


class AugMix(_Policy):
    """AugMix (Hendrycks et al. 2020): mixture_width chains of 1-3 ops mixed with Dirichlet weights,
    then with the original by a Beta(alpha, alpha) weight.

    torchvision.transforms.v2.AugMix's ops and magnitudes, made of albumentations ops. The chains
    move pixels differently, so boxes, masks and keypoints cannot follow: AugMix takes images only.
    """

    space = AUGMIX_SPACE

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1, alpha: float = 1.0,
                 all_ops: bool = True, interpolation: int = cv2.INTER_LINEAR, fill: Any = 0, p: float = 1.0):
        s = self._validated(_AugMixParams, severity=severity, mixture_width=mixture_width, chain_depth=chain_depth,
                            alpha=alpha, all_ops=all_ops, interpolation=interpolation, fill=fill, p=p)
        self.severity, self.mixture_width, self.chain_depth = s.severity, s.mixture_width, s.chain_depth
        self.alpha, self.all_ops = s.alpha, s.all_ops
        self.names = list(AUGMIX_SPACE) if s.all_ops else list(AUGMIX_PARTIAL)
        keys = (key for op in self.names
                for key in self._signed_keys(op, self._values(op, AUGMIX_BINS), range(s.severity)))
        super().__init__(s, keys)

    def _run(self, data):
        present = [k for k in ANNOTATION_KEYS if data.get(k) is not None and len(data[k])]
        if present:
            raise ValueError(f"AugMix mixes differently moved copies of the image, so {', '.join(present)} cannot "
                             "follow it; use RandAugment or TrivialAugmentWide on annotated images")
        image = data["image"]
        beta = self.random_generator.dirichlet([self.alpha, self.alpha])
        weights = self.random_generator.dirichlet([self.alpha] * self.mixture_width) * beta[1]
        mixed = image.astype(np.float64)
        mixed *= beta[0]
        scratch = np.empty_like(mixed)  # in place: three image-sized temporaries fewer per chain
        chains = []
        for weight in weights:
            augmented, chain = {"image": image}, []
            depth = self.chain_depth if self.chain_depth > 0 else self.py_random.randint(1, 3)
            for _ in range(depth):
                op = self.names[self.py_random.randrange(len(self.names))]
                magnitude = self._signed(op, self._values(op, AUGMIX_BINS), self.py_random.randrange(self.severity))
                augmented, done = self._apply(op, magnitude, augmented)
                chain.append(done)
            np.multiply(augmented["image"], weight, out=scratch)
            mixed += scratch
            chains.append(chain)
        if np.issubdtype(image.dtype, np.integer):
            np.rint(mixed, out=mixed)
            out = np.clip(mixed, 0, np.iinfo(image.dtype).max, out=mixed).astype(image.dtype)
        else:
            out = mixed.astype(image.dtype)
        data["image"] = out
        return data, {"original_weight": float(beta[0]), "chain_weights": [float(w) for w in weights],
                      "chains": chains}


POLICIES: dict[str, type[_Policy]] = {cls.__name__: cls for cls in (RandAugment, TrivialAugmentWide, AutoAugment,
                                                                     AugMix)}
