"""The modality plug-ins, one registry: the only module that knows which modalities exist and which
module implements each. Everything above the modalities (job, runner, preview, verify, cli) reaches
a modality through ``plugin(name)``; config checks a modality's section through the ``plugin`` this
module hands ``config.load_config``.

A plug-in is a module of ``augcli/modalities/`` that implements (see DESIGN.md "Layers"):

- ``check_section(section, base, path) -> list[Problem]``: problems in its raw config section
  beyond the schema (its pipeline, named by YAML path); ``resolve_paths(section, base)``: the
  validated section with its resource paths resolved against the config's folder;
- ``pipeline_for(section_or_steps)``: its pipeline, built once per process;
- ``process(task, config, rows, fragments) -> int``: a worker's task (rows and fragments appended,
  the count of outputs left out returned); ``finish(config, target, datas) -> (bytes, extra)``:
  an aggregate file from its fragments; ``table_part_rows`` where it makes tables in row ranges;
- ``library_versions()``, ``step_names()``, ``describe_steps()`` and
  ``preview(config, items, copies, failed)``; ``WORKER_IMPORTS`` (optional): modules a main
  process about to fork workers imports once.

A module is imported when its modality is first used, so ``augcli --help`` imports none.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from augcli import config as config_module
from augcli.config import MODALITIES, Config


def _image() -> ModuleType:
    from augcli.modalities import image

    return image


def _audio() -> ModuleType:
    from augcli.modalities import audio

    return audio


def _text() -> ModuleType:
    from augcli.modalities import text

    return text


#: Modality name -> a function importing its plug-in module (its libraries load on first use).
#: Adding a modality: its module, its section in config.py, and one entry here.
PLUGINS: dict[str, Callable[[], ModuleType]] = {"image": _image, "audio": _audio, "text": _text}
#: What one pipeline step of a modality is, for the JSON Schema (its section's model, the library).
SCHEMA_STEPS = {"image": ("ImageSection", "albumentations transform"),
                "audio": ("AudioSection", "audiomentations transform"),
                "text": ("TextSection", "nlpaug augmenter or EDA step")}


@functools.cache
def plugin(name: str) -> ModuleType:
    """The plug-in module of modality ``name``, imported once per process."""
    return PLUGINS[name]()


def load_config(
    source: str | os.PathLike | dict,
    overrides: dict[str, Any] | None = None,
    base_dir: str | os.PathLike | None = None,
) -> Config:
    """``config.load_config`` with every modality's section checked by its plug-in: read, validate
    and resolve a config, and build every pipeline in it (raises ConfigError listing every problem)."""
    return config_module.load_config(source, overrides, base_dir, plugin=plugin)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file, from the models, with every image step name spelled out."""
    schema = Config.model_json_schema(by_alias=True)
    for name, (section, library) in SCHEMA_STEPS.items():
        names = plugin(name).step_names()
        schema["$defs"][section]["properties"]["pipeline"]["items"] = {
            "description": f"One {library}: '- Name: {{param: value}}' or '- Name'",
            "anyOf": [
                {"type": "string", "enum": names},
                {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": {"enum": names},
                 "additionalProperties": {"type": ["object", "null"]}},
            ],
        }
    schema["title"] = "augcli config"
    return schema


def library_versions(config: Config, modality: str | None = None) -> dict[str, str]:
    """Versions of the libraries that shape this config's outputs (recorded; compared by verify),
    or only those of one modality."""
    versions: dict[str, str] = {}
    for name in [modality] if modality else MODALITIES:
        if getattr(config, name) is not None:
            versions.update(plugin(name).library_versions())
    return versions


def import_for_workers(modalities: set[str]) -> None:
    """Import what processing these modalities' tasks needs beyond validation (their ``WORKER_IMPORTS``),
    once in a main process about to fork workers, not once per forked worker."""
    for name in sorted(modalities):
        for module in getattr(plugin(name), "WORKER_IMPORTS", ()):
            importlib.import_module(module)  # a library (soundfile, librosa), not an augcli module
