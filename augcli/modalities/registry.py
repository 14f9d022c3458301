"""The modality plug-ins, one registry: the only module that imports the modalities. Everything above
them (job, runner, preview, verify, cli) reaches a modality through ``plugin(name)``; config checks a
modality's section through the ``plugin`` lookup that ``load_config`` here hands ``config.load_config``.

A plug-in is one module of ``augcli/modalities/`` that imports only the layers below it (leaves,
config, dataset, plan) and its own helpers, never another modality, and defines:

- ``check_section(section: dict, base: Path, path: str) -> list[Problem]``: problems of its raw config
  section beyond the schema, each named by its YAML path (its pipeline built once to check it);
- ``resolve_paths(section, base) -> section``: the validated section with the resource paths it
  names resolved against the config's folder (the section itself when it names none);
- ``process(task, config, rows, fragments) -> int``: a worker's task (plan.Task): read the source,
  place it, write its outputs atomically, append a manifest.ManifestRow per file (and an
  aggregate.Fragment per piece of a file made from many tasks); return the outputs left out;
- ``planned_files(task, config) -> (int, list[str])``: the files ``process`` will write for the task
  (its own) and the aggregate files it adds to (validate and --dry-run count them);
- ``library_versions() -> dict[str, str]``: the libraries that shape its outputs (run.json, verify);
- ``step_names() -> list[str]`` and ``describe_steps() -> list[dict]``: the step names a pipeline may
  use (the JSON Schema) and each with its parameters (``augcli transforms``);
- ``preview(config, items, n, copies, failed) -> list``: ``n`` of its augmented ``items`` made as
  ``run`` makes them, as samples.Sample (cells) or samples.TextSample;
- where it applies: ``finish(config, target, datas) -> (bytes, extra)``, the aggregate file
  ``target`` from its fragments' data in plan order; ``table_part_rows(...)``, the manifest line of
  a table made in row ranges that kept no row; ``WORKER_IMPORTS``, the modules a main process
  about to fork workers imports once (the modality's import itself stays light enough for validation).

Adding a modality: that module, its section model in config.py (``Config``'s field and
``MODALITIES``, so the schema needs no library), and its entry in PLUGINS and SCHEMA_STEPS here
(and its name in ``augcli transforms``' choices in cli.py). A plug-in's module is imported when its
modality is first used, so ``augcli --help`` imports none.
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


def _video() -> ModuleType:
    from augcli.modalities import video

    return video


#: Modality name -> a function importing its plug-in module (its libraries load on first use).
#: Adding a modality: its module, its section in config.py, and one entry here.
PLUGINS: dict[str, Callable[[], ModuleType]] = {"image": _image, "audio": _audio, "text": _text, "video": _video}
#: What one pipeline step of a modality is, for the JSON Schema (its section's model, the library).
SCHEMA_STEPS = {"image": ("ImageSection", "albumentations transform"),
                "audio": ("AudioSection", "audiomentations transform"),
                "text": ("TextSection", "nlpaug augmenter or EDA step"),
                "video": ("VideoSection", "albumentations transform or temporal step")}


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
