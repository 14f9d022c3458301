import json
import subprocess
import sys

import click
import pytest

from augcli import __version__
from augcli.cli import cli
from tests.conftest import SAMPLE_DATA, invoke, write_config

HEAVY = ("albumentations", "cv2", "numpy", "pydantic", "joblib", "librosa", "nltk", "nlpaug", "audiomentations")


def all_commands(group: click.Group, prefix=()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(all_commands(cli)))
def test_every_command_has_help_with_an_example(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "augcli " in result.output.split("Example:")[1]


def test_version():
    assert invoke("--version").output.strip() == f"augcli, version {__version__}"


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from augcli.cli import cli\n"
            "try: cli.main(['--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_python_dash_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "augcli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"augcli, version {__version__}"


def test_usage_error_exits_2():
    result = invoke("run", "c.yaml", "--workers", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--workers'" in result.output


def test_validate_reports_every_mistake_with_its_yaml_path(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copeis=2, on_error="ignore",
                       image={"pipeline": [{"Rotate": {"limit": "wide"}}, {"HorizontalFlp": {}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    for expected in ["copeis: unknown key 'copeis' (did you mean 'copies'?)",
                     "on_error: Input should be 'skip' or 'fail'",
                     "image.pipeline[0].Rotate.limit: Input should be",
                     "image.pipeline[1]: unknown image transform 'HorizontalFlp' (did you mean 'HorizontalFlip'?)"]:
        assert expected in result.output
    assert not (tmp_path / "out").exists()


def test_validate_prints_what_a_run_would_do(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copies=3, image={"pipeline": [{"HorizontalFlip": {}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 0
    assert "valid" in result.output and "files to write: 26 (18 augmented, 6 originals kept, 2 copied" in result.output


def test_transforms_lists_the_library_classes_with_parameters():
    listing = json.loads(invoke("transforms", "image", "--json").output)["image"]
    by_name = {entry["name"]: entry for entry in listing}
    assert by_name["HorizontalFlip"]["params"]["p"] == {"default": 0.5}
    assert by_name["Rotate"]["params"]["limit"] == {"default": [-90, 90]}
    assert by_name["OneOf"]["composition"] is True and "transforms" in by_name["OneOf"]["params"]
    assert "HorizontalFlip(p=0.5)" in invoke("transforms").output


def test_schema_is_json_schema_that_accepts_the_quickstart_config():
    import jsonschema
    import yaml

    schema = json.loads(invoke("schema").output)
    jsonschema.Draft202012Validator.check_schema(schema)
    config = yaml.safe_load((SAMPLE_DATA.parent / "configs" / "quickstart.yaml").read_text())
    jsonschema.validate(config, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "copeis": 2}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "image": {"pipeline": [{"HorizontalFlp": {}}]}}, schema)
