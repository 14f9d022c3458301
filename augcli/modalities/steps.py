"""What every modality's pipeline config shares: the step syntax, parameter names, relative paths."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from augcli.errors import Problem, suggest


def build_list(steps: Any, path: str, problems: list[Problem], build_one: Callable[[Any, str], Any],
               example: str) -> list:
    """Build each step of a list with ``build_one(step, yaml_path)``, keeping those that built."""
    if not isinstance(steps, list):
        problems.append(Problem(path, f"must be a list of steps, e.g. {example}"))
        return []
    return [built for i, step in enumerate(steps) if (built := build_one(step, f"{path}[{i}]")) is not None]


def parse_step(step: Any, path: str, problems: list[Problem], *, modality: str, kind: str, known: list[str],
               example: str, hints: dict[str, str] | None = None) -> tuple[str, dict] | None:
    """``- Name: {params}`` or ``- Name`` -> (name, params); None once the problem is recorded."""
    if isinstance(step, str):
        name, params = step, {}
    elif isinstance(step, dict) and len(step) == 1:
        ((name, params),) = step.items()
        params = {} if params is None else params
    else:
        problems.append(Problem(path, f"a step is one {kind} name with its parameters, e.g. '{example}'"))
        return None
    name = str(name)
    if hints and name in hints:
        problems.append(Problem(path, hints[name]))
        return None
    if name not in known:
        problems.append(Problem(path, f"unknown {modality} {kind} '{name}'{suggest(name, known)};"
                                      f" 'augcli transforms {modality}' lists them"))
        return None
    if not isinstance(params, dict):
        problems.append(Problem(f"{path}.{name}", f"parameters must be a mapping, e.g. '- {name}: {{p: 0.5}}'"))
        return None
    return name, dict(params)


def signature_params(cls: type) -> list[str]:
    """The keyword parameters a class's constructor names (its own validation checks the values)."""
    return [p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def known_params(name: str, params: dict, accepted: list[str], where: str, problems: list[Problem]) -> bool:
    """True when every parameter is one ``name`` takes; else each stranger is a problem with a suggestion."""
    unknown = [key for key in params if key not in accepted]
    for key in unknown:
        problems.append(Problem(f"{where}.{key}", f"{name} has no parameter '{key}'{suggest(str(key), accepted)}"))
    return not unknown


def resolve_step_paths(steps: Any, base: Any, path_params: dict[str, tuple[str, ...]]) -> Any:
    """The steps with the path parameters ``path_params`` names made absolute against ``base``."""
    if not isinstance(steps, list):
        return steps
    out = []
    for step in steps:
        if isinstance(step, dict) and len(step) == 1:
            ((name, params),) = step.items()
            if isinstance(params, dict):
                params = dict(params)
                for key in path_params.get(name, ()):
                    if isinstance(params.get(key), str):
                        params[key] = str((base / params[key]).resolve())
                if isinstance(params.get("transforms"), list):
                    params["transforms"] = resolve_step_paths(params["transforms"], base, path_params)
            step = {name: params}
        out.append(step)
    return out
