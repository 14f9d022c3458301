"""Every `augcli` command and every config shown in README.md and docs/ runs as written (the pages
as the site shows them: the generated `--help` examples included), and the generated parts of the
docs cover every config key, every modality's steps and every command.

The commands run in a scratch copy of the repository's root (configs/ copied, sample_data/ linked),
so their relative paths work as written and what they write lands in a temporary folder. A page's
commands run in the order the page shows them, as a reader following it would; the pages share one
scratch root, and a command shown on several pages runs once (the first time it is shown).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: Commands shown in the docs that a test cannot run, each with the reason. A stale entry fails the test.
NOT_RUN: dict[str, str] = {
    "augcli verify out/big-run --sample 200": "verify's --help example: out/big-run stands for any large run's folder",
    "augcli run CONFIG --executor dask": "starts a dask LocalCluster: tests/test_executors.py runs the dask executor",
    "augcli run CONFIG --executor dask --address tcp://HOST:8786": "needs a dask cluster's address",
    "augcli run configs/quickstart.yaml --executor dask --address tcp://HOST:8786": "needs a dask cluster's address",
    "augcli run CONFIG --executor ray --address auto": "needs a running Ray cluster (Ray is no test dependency)",
}

#: A fragment (a YAML block without `input`) runs merged into this config, written in configs/.
#: (the quickstart's exclude: audio resources, and detection/'s annotated layouts, which have configs of their own).
FRAGMENT_BASE = {"input": "../sample_data", "output": "../out/docs-fragment",
                 "exclude": ["noise/**", "ir/**", "detection/**"]}

FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
SHELLS = ("sh", "bash", "console", "shell")
WHERE = re.compile(r"#\s*([a-z_]+(?:\.[a-z_]+)*):\s*$")  # a fragment's first line: where it goes


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DOCS = reference()  # the site's hook: what it renders is cached, so each command runs once per session


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page as the site shows it (line numbers: of the page as built)."""
    source = DOCS.fill(page.read_text(encoding="utf-8"))
    found = []
    for match in FENCE.finditer(source):
        indent = len(match.group(1))
        text = "\n".join(line[indent:] for line in match.group(3).splitlines())
        found.append(Block(page, source.count("\n", 0, match.start()) + 1, match.group(2), text))
    return found


def commands(block: Block) -> list[str]:
    """The `augcli ...` commands of a shell block (each part of an `a && b` line that is one, and
    the lines of a `--help` shown in a console block), without their comments."""
    found = []
    for line in block.text.splitlines():
        for part in line.strip().removeprefix("$ ").split("&&"):
            if re.match(r"\s*augcli(\s|$)", part):
                found.append(shlex.join(shlex.split(part, comments=True)))
    return found


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    """A scratch repository root: configs/ copied (a config's own paths resolve against its real
    location, so a link would write into the repository), sample_data/ linked."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "configs", root / "configs")
    (root / "sample_data").symlink_to(ROOT / "sample_data")
    return root


@pytest.fixture
def workspace(scratch_root, monkeypatch) -> Path:
    monkeypatch.chdir(scratch_root)
    return scratch_root


RAN: set[str] = set()  # commands run successfully in the scratch root


def run_command(command: str, where: str) -> None:
    args = shlex.split(command)[1:]
    target = None
    if "|" in args:  # `augcli transforms text --json | jq ...`: the augcli part runs (jq is no test dependency)
        args = args[: args.index("|")]
    if ">" in args:  # `augcli schema > augcli.schema.json`: the file lands in the workspace
        at = args.index(">")
        args, target = args[:at], args[at + 1]
    result = invoke(*args)
    assert result.exit_code == 0, f"{where}: `{command}` exited {result.exit_code}:\n{result.output}"
    if target:
        Path(target).write_text(result.stdout, encoding="utf-8")


def config_of(block: Block) -> dict | None:
    """The config a YAML block shows: itself, or a fragment merged into FRAGMENT_BASE; None for
    YAML that is not a config (a blocks whose first line names no place and that is not a mapping)."""
    loaded = yaml.safe_load(block.text)
    first = block.text.splitlines()[0] if block.text else ""
    where = WHERE.match(first)
    if where:
        for key in reversed(where.group(1).split(".")):
            loaded = {key: loaded}
    if not isinstance(loaded, dict):
        return None
    if "input" in loaded:
        return loaded
    return merge(dict(FRAGMENT_BASE), loaded)


def merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        base[key] = merge(dict(base[key]), value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return base


def run_config(block: Block, config: dict, workspace: Path) -> None:
    name = re.sub(r"[^a-z0-9]+", "-", f"{page_id(block.page)}-{block.line}".lower())
    path = workspace / "configs" / f"docs-{name}.yaml"
    config = {**config, "output": f"../out/docs-{name}"}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    # one copy keeps the test fast; every key, path and step of the config is still used
    result = invoke("run", path, "--copies", "1", "--json", "--quiet")
    assert result.exit_code == 0, f"{block}: this config's run exited {result.exit_code}:\n{result.output}"
    assert json.loads(result.stdout)["counts"]["outputs_written"] > 0, f"{block}: this config's run wrote nothing"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_command_and_config_on_the_page_runs(page, workspace):
    for block in blocks(page):
        if block.lang in SHELLS:
            for command in commands(block):
                if command not in NOT_RUN and command not in RAN:
                    run_command(command, str(block))
                    RAN.add(command)
        elif block.lang == "yaml" and (config := config_of(block)) is not None:
            run_config(block, config, workspace)
        elif block.lang == "python" and "import augcli" in block.text:
            exec(compile(block.text, str(block), "exec"), {})  # the docs' own example of the Python API


def test_the_commands_not_run_are_still_shown():
    shown = {command for page in PAGES for block in blocks(page) if block.lang in SHELLS for command in commands(block)}
    stale = sorted(set(NOT_RUN) - shown)
    assert not stale, f"NOT_RUN lists commands no page shows any more; remove them: {stale}"


def test_the_pages_show_commands_and_configs():
    # The scan itself: a change to the fences (or to this test's parsing) that found nothing would pass silently.
    everything = [block for page in PAGES for block in blocks(page)]
    assert sum(len(commands(b)) for b in everything if b.lang in SHELLS) >= 20
    assert sum(1 for b in everything if b.lang == "yaml" and config_of(b) is not None) >= 5
    assert any(b.lang == "yaml" and WHERE.match(b.text.splitlines()[0]) for b in everything)


# --- the generated parts --------------------------------------------------------------------------------


def schema_keys(schema: dict) -> dict[str, dict]:
    """Every key of the config schema by its dotted path, sections included."""
    keys = {}

    def walk(obj: dict, path: str) -> None:
        for key, prop in obj["properties"].items():
            full = f"{path}.{key}" if path else key
            keys[full] = prop
            ref = next((o["$ref"] for o in [prop, *prop.get("anyOf", [])] if "$ref" in o), None)
            if ref:
                walk(schema["$defs"][ref.rsplit("/", 1)[1]], full)

    walk(schema, "")
    return keys


def test_every_config_key_is_described_in_the_reference():
    schema = DOCS.schema()
    keys = schema_keys(schema)
    assert {"input", "image.annotations.min_visibility", "text.synonyms.min_share", "splits.copy"} <= set(keys)
    undescribed = sorted(path for path, prop in keys.items() if not prop.get("description", "").strip())
    assert not undescribed, (
        f"config keys without a description: {undescribed}; write a docstring under the field in augcli/config.py"
        " (it is the key's description in `augcli schema` and in docs/reference/config.md)")
    rendered = DOCS.config_keys(schema)
    rows = dict(re.findall(r"^\| `([\w.]+)` \| (.*)$", rendered, re.MULTILINE))
    assert set(rows) == set(keys)
    for path, prop in keys.items():
        assert " ".join(prop["description"].split()) in rows[path].replace("\\|", "|"), path


def test_the_reference_pages_have_every_modality_and_command():
    site = "\n".join(page.read_text(encoding="utf-8") for page in PAGES if page.parent != ROOT)
    markers = set(DOCS.MARKER.findall(site))
    modalities = set(DOCS.transforms())
    assert {"image", "audio", "text"} <= modalities
    missing = sorted(f"<!-- generated: steps {m} -->" for m in modalities if ("steps", m) not in markers)
    assert not missing, f"docs/reference/transforms.md has no section for {missing}"
    from augcli.cli import cli

    missing = sorted(f"<!-- generated: help {c} -->" for c in cli.commands if ("help", c) not in markers)
    assert not missing, f"no page in docs/usage/ shows the --help of {missing}"
    assert ("config-keys", "") in markers


def test_a_marker_renders_what_the_command_prints_and_a_typo_fails():
    audio = DOCS.fill("x\n<!-- generated: steps audio -->\ny")
    assert "| `AddGaussianNoise` | `min_amplitude=0.001`, `max_amplitude=0.015`, `p=0.5` |" in audio
    video = DOCS.fill("<!-- generated: steps video -->")
    assert "| `FrameDrop` | `p=0.05` | **temporal** (augcli's: on the frame sequence). Drop single frames" in video
    verify_help = DOCS.fill("<!-- generated: help verify -->")
    assert verify_help.startswith("```console\n$ augcli verify --help\nUsage: augcli verify [OPTIONS] OUTPUT_DIR")
    assert DOCS.fill("inline `<!-- generated: help run -->` is left alone") == \
        "inline `<!-- generated: help run -->` is left alone"
    with pytest.raises(ValueError, match="unknown marker <!-- generated: steps imgae -->"):
        DOCS.fill("<!-- generated: steps imgae -->")
