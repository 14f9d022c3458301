"""An image pipeline config -> albumentations transforms: step names, compositions, parameters, each
problem named by its YAML path. Shared by the image modality and the annotated pipeline
(augcli/annotations/transform.py), which adds box and keypoint handling to the same steps."""

from __future__ import annotations

import inspect
import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations 2.x calls home otherwise

import albumentations as A

from augcli.annotations.rules import NEEDS, UNSUPPORTED
from augcli.errors import Problem, yaml_path
from augcli.modalities import policies
from augcli.modalities import steps as steps_
from augcli.modalities.sampled import record_sampled

COMPOSITIONS = ("OneOf", "SomeOf", "Sequential", "OneOrOther", "RandomOrder")


class _RecordedOneOrOther(A.OneOrOther):
    """OneOrOther that records the branch it applied.

    albumentations 2.0 records applied params for every composition except OneOrOther;
    without this the manifest would silently miss a step.
    """

    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> dict[str, Any]:
        if self.replay_mode:
            return super().__call__(*args, force_apply=force_apply, **data)
        chosen = self.transforms[0] if self.py_random.random() < self.p else self.transforms[-1]
        data = chosen(force_apply=True, **data)
        self._track_transform_params(chosen, data)
        return data


def transform_names() -> list[str]:
    """Every albumentations class a pipeline step may name, and the policies made of them."""
    return sorted(
        [name
         for name in dir(A)
         if inspect.isclass(getattr(A, name))
         and issubclass(getattr(A, name), (A.BasicTransform, A.BaseCompose))
         and name not in ("BasicTransform", "BaseCompose", "Compose", "DualTransform", "ImageOnlyTransform",
                          "Transform3D")
         and name not in UNSUPPORTED
         and not name.startswith("_")]
        + list(policies.POLICIES)
    )


def step_class(name: str) -> type:
    return policies.POLICIES.get(name) or getattr(A, name)


def build_steps(steps: Any, path: str, problems: list[Problem]) -> list:
    return steps_.build_list(steps, path, problems, lambda step, where: build_step(step, where, problems),
                             "[{HorizontalFlip: {p: 0.5}}]")


def build_step(step: Any, path: str, problems: list[Problem]) -> Any:
    parsed = steps_.parse_step(step, path, problems, modality="image", kind="transform", known=transform_names(),
                               example="- Rotate: {limit: 15, p: 0.5}",
                               hints={"Compose": "use 'Sequential' to group steps inside a pipeline",
                                      **{name: f"augcli cannot run {name}: {why}"
                                         for name, why in UNSUPPORTED.items()}})
    if parsed is None:
        return None
    name, params = parsed
    cls, where = step_class(name), f"{path}.{name}"
    if name in COMPOSITIONS:
        if "transforms" not in params:
            problems.append(Problem(where, f"{name} needs 'transforms: [...]', a list of steps"))
            return None
        params["transforms"] = build_steps(params["transforms"], f"{where}.transforms", problems)
        if name == "OneOrOther":
            cls = _RecordedOneOrOther
    if not steps_.known_params(name, params, steps_.signature_params(cls), where, problems):
        return None
    if not (steps_.check_probabilities(params, where, problems) & _odd_kernel_sizes(params, where, problems)):
        return None
    return _construct(cls, params, where, problems)


#: Kernel sizes, which OpenCV takes odd: albumentations makes an even one odd, for some steps at
#: construction with a warning (MotionBlur, MedianBlur), for GaussianBlur silently when it samples.
KERNEL_SIZES = ("blur_limit",)



def _odd_kernel_sizes(params: dict, where: str, problems: list[Problem]) -> bool:
    ok = True
    for key in KERNEL_SIZES:
        value = params.get(key)
        sizes = value if isinstance(value, list | tuple) else [value]
        even = [v for v in sizes if isinstance(v, int) and not isinstance(v, bool) and v and v % 2 == 0]
        if even:
            problems.append(Problem(f"{where}.{key}", f"kernel sizes are odd: albumentations would make {even[0]} "
                                                      f"into {even[0] + 1} without saying so in the manifest; "
                                                      f"write {even[0] - 1} or {even[0] + 1}"))
            ok = False
    return ok


def _construct(cls: type, params: dict, where: str, problems: list[Problem]) -> Any:
    try:
        with steps_.library_warnings(where, problems):
            transform = cls(**params)
        if isinstance(transform, A.BasicTransform):  # the angle, scale, sigma it draws: recorded as well
            record_sampled(transform)
        return transform
    except Exception as exc:  # the library's own validation speaks
        cause = exc.__cause__
        if hasattr(cause, "errors"):
            seen = set()
            for err in cause.errors():
                field = err["loc"][0] if err["loc"] else ""
                if field not in seen:
                    seen.add(field)
                    problems.append(Problem(yaml_path((where, *err["loc"][:1])), err["msg"]))
        else:
            problems.append(Problem(where, steps_.failure_message(exc)))
        return None


def describe_steps() -> list[dict[str, Any]]:
    """Every step name with its parameters and defaults, read from albumentations itself."""
    from augcli.manifest import plain

    described = []
    for name in transform_names():
        cls = step_class(name)
        params = {}
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            params[p.name] = {"required": True} if p.default is p.empty else {"default": plain(p.default)}
        doc = (inspect.getdoc(cls) or "").strip().splitlines()
        entry = {"name": name, "composition": name in COMPOSITIONS, "params": params,
                 "summary": doc[0] if doc else ""}
        if name in NEEDS:  # runs only on an annotated dataset that has these
            entry["needs"] = NEEDS[name]
        described.append(entry)
    return described
