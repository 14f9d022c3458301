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
from collections.abc import Callable
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
    """Make ``transform`` (an albumentations BasicTransform) record the values it draws, on this instance."""
    drawn: dict[str, Any] = {}
    for name in ("get_params", "get_params_dependent_on_data"):
        method = getattr(transform, name, None)
        code = getattr(getattr(method, "__func__", None), "__code__", None)
        if code is not None:
            setattr(transform, name, _capturing(method, code, drawn))
    apply_with_params = transform.apply_with_params

    def apply_then_record(params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return apply_with_params(params, *args, **kwargs)
        finally:  # the params dict is the one Compose records (transform.params): after apply, never seen by it
            for key, value in drawn.items():
                params.setdefault(key, value)
            drawn.clear()

    transform.apply_with_params = apply_then_record


def _capturing(method: Callable, code: Any, drawn: dict[str, Any]) -> Callable:
    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            returned = arg if isinstance(arg, dict) else {}
            for key, value in frame.f_locals.items():
                if key in _NOT_DRAWN or key in returned or key.startswith("_"):
                    continue
                readable = _readable(value)
                if readable is not None:
                    drawn[key] = readable

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            return method(*args, **kwargs)
        finally:
            sys.setprofile(previous)

    return wrapped


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
