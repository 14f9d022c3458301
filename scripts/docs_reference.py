"""The docs' generated parts, rendered from the installed augcli itself so they cannot drift.

A page marks where a part goes with an HTML comment on a line of its own; `mkdocs build` (this file is its hook, see
mkdocs.yml) replaces each marker with the part, rendered from what the commands print:

    <!-- generated: config-keys -->      every config key: type, default, description (`augcli schema`)
    <!-- generated: steps MODALITY -->   every pipeline step of image, audio or text (`augcli transforms --json`)
    <!-- generated: help COMMAND -->     `augcli COMMAND --help`

To see a part without building the site: python scripts/docs_reference.py config-keys
"""

from __future__ import annotations

import functools
import json
import re
import sys
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([a-z-]+)(?: ([a-z]+))? -->$", re.MULTILINE)  # on a line of its own
TRANSFORMS_PAGE = "transforms.md"  # where the step tables live, relative to the config reference


@functools.cache
def _invoke(*args: str) -> str:
    from click.testing import CliRunner

    from augcli.cli import cli

    result = CliRunner().invoke(cli, list(args), prog_name="augcli", terminal_width=80, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"augcli {' '.join(args)} exited {result.exit_code}: {result.output}")
    return result.stdout


def schema() -> dict[str, Any]:
    return json.loads(_invoke("schema"))


def transforms() -> dict[str, list[dict[str, Any]]]:
    return json.loads(_invoke("transforms", "--json"))


def render(name: str, arg: str | None) -> str:
    """The Markdown of one marker; an unknown marker is an error, so a typo fails the build."""
    if name == "config-keys" and arg is None:
        return config_keys(schema())
    if name == "steps" and arg in transforms():
        return steps(arg, transforms()[arg])
    if name == "help" and arg:
        return f"```console\n$ augcli {arg} --help\n{_invoke(arg, '--help').rstrip()}\n```\n"
    raise ValueError(f"unknown marker <!-- generated: {name}{' ' + arg if arg else ''} -->")


def fill(markdown: str) -> str:
    return MARKER.sub(lambda m: render(m.group(1), m.group(2)), markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:  # the MkDocs hook
    return fill(markdown)


# --- the config reference -----------------------------------------------------------------------------


def section_anchor(path: str) -> str:
    return "key-" + path.replace(".", "-")


def config_keys(root: dict[str, Any]) -> str:
    """One table per mapping of the config (the top level, then each section, depth first)."""
    defs = root["$defs"]
    out: list[str] = []

    def walk(obj: dict[str, Any], path: str, level: int) -> None:
        title = f"`{path}`" if path else "Top level"
        anchor = section_anchor(path or "top")
        out.append(f"{'#' * level} {title} {{#{anchor}}}\n")
        if obj.get("description"):
            out.append(_text(obj["description"]) + "\n")
        out.append("| key | type | default | what it does |\n| --- | --- | --- | --- |")
        required = set(obj.get("required", []))
        nested = []
        for key, prop in obj["properties"].items():
            full = f"{path}.{key}" if path else key
            ref = _ref(prop)
            if ref:
                nested.append((full, defs[ref]))
            default = "**required**" if key in required else _default(prop, defs)
            description = _text(prop.get("description", ""))
            out.append(f"| `{full}` | {_cell(_type(prop, defs, full))} | {_cell(default)} | {_cell(description)} |")
        out.append("")
        for full, sub in nested:
            walk(sub, full, min(level + 1, 5))

    walk(root, "", 3)  # under the page's own "## Every key"
    return "\n".join(out)


def _ref(prop: dict[str, Any]) -> str | None:
    for option in [prop, *prop.get("anyOf", [])]:
        if "$ref" in option:
            return option["$ref"].rsplit("/", 1)[1]
    return None


def _type(prop: dict[str, Any], defs: dict, path: str) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(option, defs, path) for option in prop["anyOf"])
    if "$ref" in prop:
        return f"[mapping](#{section_anchor(path)})"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        if "propertyNames" in json.dumps(items):  # a pipeline: step names from the libraries
            modality = path.split(".")[0]
            return f"list of [{modality} steps]({TRANSFORMS_PAGE}#{modality})"
        return f"list of {_type(items, defs, path)}" if items else "list"
    if kind == "null":
        return "null"
    if kind == "string" and prop.get("format") == "path":
        return "path"
    names = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    text = names.get(kind, kind or "any")
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum")
    if low is not None and high is not None:
        text += f" {_num(low)}-{_num(high)}"
    elif "exclusiveMinimum" in prop:
        text += f" > {_num(low)}"
    elif low is not None:
        text += f" >= {_num(low)}"
    return text


def _default(prop: dict[str, Any], defs: dict) -> str:
    if "default" not in prop:
        ref = _ref(prop)
        return "the section's defaults" if ref else ""
    value = prop["default"]
    if isinstance(value, dict):
        return "the section's defaults"
    return f"`{json.dumps(value)}`"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if "\\|" not in text else text


# --- the pipeline steps ---------------------------------------------------------------------------------


def steps(modality: str, entries: list[dict[str, Any]]) -> str:
    lines = [f"{len(entries)} steps, as `augcli transforms {modality}` lists them for the installed libraries.\n",
             "| step | parameters (defaults) | what it is |", "| --- | --- | --- |"]
    for entry in entries:
        params = ", ".join(
            f"`{p}`" if spec.get("required") else f"`{p}={json.dumps(spec['default'])}`"
            for p, spec in entry["params"].items()
        )
        notes = _text(entry.get("summary") or "")
        if entry.get("composition"):
            notes = ("composition: children in `transforms`. " + notes).strip()
        if entry.get("temporal"):
            notes = f"**temporal** (augcli's: on the frame sequence). {notes}".strip()
        if entry.get("needs"):
            notes = f"**needs {entry['needs']}** (an annotated dataset). {notes}".strip()
        lines.append(f"| `{entry['name']}` | {_cell(params) or '-'} | {_cell(notes)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    print(render(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None))
