"""What every modality's pipeline config shares: the step syntax, parameter names, relative paths."""

from __future__ import annotations

import ast
import contextlib
import inspect
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from augcli.errors import Problem, suggest

#: Parameters that are probabilities in every library: a value outside [0, 1] is taken without a
#: word (nlpaug's SynonymAug runs aug_p: 2 as if it were 1), so augcli refuses it at validate.
PROBABILITIES = ("p", "aug_p", "aug_char_p", "aug_word_p")


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


def check_probabilities(params: dict, where: str, problems: list[Problem]) -> bool:
    """True when every probability parameter is a number from 0 to 1; else each is a problem."""
    ok = True
    for key in PROBABILITIES:
        value = params.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
            problems.append(Problem(f"{where}.{key}", f"is a probability, from 0 to 1, not {value!r}: the library "
                                                      f"would take it without a word and run it as {int(value > 1)}"))
            ok = False
    return ok


@contextlib.contextmanager
def library_warnings(where: str, problems: list[Problem]) -> Iterator[None]:
    """What a library warns while it builds a step (a value it changes, a step it deprecates) becomes a
    warning under the step's YAML path, which ``validate`` shows: the run goes on with what it made."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):  # Python's own noise
            warnings.simplefilter("ignore", quiet)
        yield
    for message in dict.fromkeys(str(w.message) for w in caught):
        problems.append(Problem(where, f"the library warns: {message}", warning=True))


def failure_message(exc: BaseException) -> str:
    """A library's exception as a message: its own words, or for a bare ``assert`` (audiomentations'
    ``assert max_amplitude >= min_amplitude`` says nothing) the condition that failed, from the source
    line of the failing frame, with the values its names had there."""
    text = str(exc)
    if text:
        return f"{type(exc).__name__}: {text}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last, tb = frames[-1], exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    condition = _assert_condition(last)
    if condition is None:
        return f"{type(exc).__name__} at {last.line}" if last.line else type(exc).__name__
    values = []
    for node in ast.walk(condition):
        name = node.id if isinstance(node, ast.Name) else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            name = node.attr
            owner = tb.tb_frame.f_locals.get("self")
            value = getattr(owner, name, None) if owner is not None else None
        else:
            value = tb.tb_frame.f_locals.get(name) if name else None
        if name and isinstance(value, int | float | str | tuple | list) and name not in {v[0] for v in values}:
            values.append((name, value))
    shown = ", ".join(f"{name} = {value!r}" for name, value in values)
    return f"the library requires {ast.unparse(condition)}" + (f", but {shown}" if shown else "")


def _assert_condition(frame: traceback.FrameSummary) -> ast.expr | None:
    """The condition of the ``assert`` statement a frame stopped at, or None."""
    import linecache

    end = getattr(frame, "end_lineno", None) or frame.lineno
    source = "".join(linecache.getline(frame.filename, n) for n in range(frame.lineno, end + 1))
    try:
        tree = ast.parse(inspect.cleandoc(source) if "\n" in source.strip() else source.strip())
    except SyntaxError:
        return None
    statement = tree.body[0] if tree.body else None
    return statement.test if isinstance(statement, ast.Assert) else None
