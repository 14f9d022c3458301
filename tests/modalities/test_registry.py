"""The modality registry: every modality of the config has a plug-in with the interface, and config
checks a section by asking the plug-in it is handed (it imports no modality itself)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from augcli import config
from augcli.errors import ConfigError, Problem
from augcli.modalities import audio, image, text, video
from augcli.modalities.registry import PLUGINS, SCHEMA_STEPS, plugin

#: What job, runner, preview, verify and cli call on every plug-in (registry.py's docstring).
INTERFACE = ("check_section", "resolve_paths", "process", "planned_files", "library_versions", "step_names",
             "describe_steps", "preview")


def test_every_modality_of_the_config_has_a_plugin_with_the_interface():
    assert list(PLUGINS) == list(config.MODALITIES) == list(SCHEMA_STEPS)
    assert [plugin(name) for name in PLUGINS] == [image, audio, text, video]
    for name in PLUGINS:
        missing = [f for f in INTERFACE if not callable(getattr(plugin(name), f, None))]
        assert not missing, f"modalities/{name}.py lacks {missing}"
    assert callable(image.finish) and callable(audio.finish) and callable(text.table_part_rows)


def test_config_asks_the_plugin_it_is_handed_to_check_and_resolve_a_section(tmp_path):
    asked = []

    def check_section(section, base, path):
        asked.append((path, section["pipeline"], base))
        return [Problem(f"{path}.pipeline[0]", "refused by the plug-in")]

    fake = types.SimpleNamespace(check_section=check_section, resolve_paths=lambda section, base: section)
    raw = {"input": str(tmp_path), "output": str(tmp_path.parent / "out"), "text": {"pipeline": ["Anything"]}}
    with pytest.raises(ConfigError) as caught:
        config.load_config(raw, plugin=lambda name: fake)
    assert asked == [("text", ["Anything"], Path.cwd().resolve())]  # a mapping's paths resolve against the cwd
    assert [(p.path, p.message) for p in caught.value.problems] == [("text.pipeline[0]", "refused by the plug-in")]

    fake.check_section = lambda section, base, path: []
    resolved = config.load_config(raw, plugin=lambda name: fake)
    assert resolved.text.pipeline == ["Anything"] and resolved.input == tmp_path.resolve()
