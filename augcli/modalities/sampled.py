"""What an albumentations transform sampled, as a person reads it, in its recorded parameters.

``Compose(save_applied_params=True)`` records what ``get_params`` and ``get_params_dependent_on_data``
returned: for many transforms that is what ``apply`` needs (a matrix, a kernel, a noise map), not what
was drawn. Rotate returns its matrix, not its angle; Affine its rotate and scale, not its translate
and shear; GaussianBlur its kernel, not its sigma. The values drawn are the locals of those two
methods when they return, named by the library's authors: each one that is a number, a short list of
numbers or a small {name: number} mapping, and that the method did not return, is added to the
transform's recorded parameters once it has applied (so it never reaches ``apply``).
"""

from __future__ import annotations

import sys
from numbers import Number
from typing import Any

import numpy as np

#: Locals that are not drawn: the method's own arguments, the image's size, centres of rotation.
_NOT_DRAWN = frozenset({
    "self", "params", "data", "kwargs", "args", "shape", "image_shape", "height", "width", "rows", "cols",
    "image_height", "image_width", "img_h", "img_w", "num_channels", "channels", "center", "bbox_center",
    "image_shift", "bbox_shift", "image_center", "out_params", "result", "metadata", "max_value", "area",
    "total_area", "diagonal",
})
MAX_VALUES = 8  # a longer list or mapping is data for apply (a map, a kernel), not a value a person reads


def record_sampled(transform: Any) -> None:
    """Make ``transform`` (an albumentations BasicTransform) record the values it draws, on this instance
    (through objects of this module's classes: the pipeline still copies and pickles)."""
    drawn: dict[str, Any] = {}
    for name in ("get_params", "get_params_dependent_on_data"):
        if getattr(getattr(type(transform), name, None), "__code__", None) is not None:
            setattr(transform, name, _Capturing(transform, name, drawn))
    transform.apply_with_params = _ApplyThenRecord(transform, drawn)


class _Capturing:
    """A transform's ``get_params*`` method that keeps the readable locals it returns with (see the module)."""

    def __init__(self, transform: Any, name: str, drawn: dict[str, Any]):
        self.transform, self.name, self.drawn = transform, name, drawn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        function = getattr(type(self.transform), self.name)
        code, drawn = function.__code__, self.drawn

        def hook(frame: Any, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is code:
                returned = arg if isinstance(arg, dict) else {}
                for key, value in frame.f_locals.items():
                    if key in _NOT_DRAWN or key in returned or key.startswith("_"):
                        continue
                    readable = _readable(value)
                    if readable is not None:
                        drawn[key] = readable

        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            return function(self.transform, *args, **kwargs)
        finally:
            sys.setprofile(previous)


class _ApplyThenRecord:
    """A transform's ``apply_with_params`` that adds what it drew to its params once it has applied: that dict
    is the one Compose records (``transform.params``), and ``apply`` never sees the additions."""

    def __init__(self, transform: Any, drawn: dict[str, Any]):
        self.transform, self.drawn = transform, drawn

    def __call__(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return type(self.transform).apply_with_params(self.transform, params, *args, **kwargs)
        finally:
            for key, value in self.drawn.items():
                params.setdefault(key, value)
            self.drawn.clear()


def _number(value: Any) -> bool:
    return isinstance(value, Number | np.number) and not isinstance(value, bool | np.bool_)


def _readable(value: Any) -> Any:
    """The value as a person reads it (a number, a short list of numbers, a small mapping), or None."""
    if _number(value):
        return value
    if isinstance(value, np.ndarray) and value.ndim <= 1 and value.size <= MAX_VALUES and value.dtype.kind in "iuf":
        return value.tolist()
    if isinstance(value, list | tuple) and 0 < len(value) <= MAX_VALUES and all(map(_number, value)):
        return list(value)
    if isinstance(value, dict) and 0 < len(value) <= MAX_VALUES and all(
            isinstance(k, str) and _number(v) for k, v in value.items()):
        return dict(value)
    return None
