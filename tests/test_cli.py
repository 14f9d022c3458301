import subprocess
import sys

import click
import pytest

from augcli import __version__
from augcli.cli import cli
from tests.conftest import invoke

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
