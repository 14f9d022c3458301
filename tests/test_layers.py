"""The import layers (DESIGN.md "Layers"): every augcli import, function-level ones included, runs one way.

Each module of augcli/ has a layer in LAYER_OF below; a module imports only modules of its own layer or
of layers below it, never in a circle. Modalities (and their helpers) are reached from above only
through the registry, a modality imports no other modality, and no module imports the package face
``augcli/__init__``. Nothing may hide an import of augcli in an ``importlib.import_module`` string.
A new module needs its line in LAYER_OF: the failure says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

AUGCLI = Path(__file__).resolve().parent.parent / "augcli"

#: The layers, bottom first.
LAYERS = ("leaves", "config", "dataset", "plan", "modality helpers", "modalities", "registry", "execution",
          "commands", "cli", "package face")
#: What each layer is for, said in a failure so that its reader learns the rule.
PURPOSE = {
    "leaves": "leaves import nothing of augcli but other leaves",
    "config": "config validates the common schema and asks the registry it is handed about a modality's section",
    "dataset": "discovery sees config and the leaves (annotation readers take plain arguments)",
    "plan": "planning (plan, balance, mix partners) imports no modality: what it needs of one is in a leaf",
    "modality helpers": "a modality's own helpers sit below the modalities and import none of them",
    "modalities": "a modality imports layers below it and its own helpers, never another modality",
    "registry": "the registry is the one module that imports the modalities",
    "execution": "runner, journal and job reach modalities through the registry",
    "commands": "preview and verify reach modalities through the registry",
    "cli": "cli is the only place that prints or exits",
    "package face": "augcli/__init__ is the library's face: no augcli module imports it",
}
LAYER_OF = {
    # leaves
    "augcli.version": "leaves",
    "augcli.errors": "leaves",
    "augcli.seeding": "leaves",
    "augcli.io": "leaves",
    "augcli.manifest": "leaves",
    "augcli.memo": "leaves",
    "augcli.workers": "leaves",
    "augcli.naming": "leaves",
    "augcli.image_codec": "leaves",
    "augcli.audio_codec": "leaves",
    "augcli.tables": "leaves",
    "augcli.aggregate": "leaves",
    "augcli.samples": "leaves",
    "augcli.wordnet": "leaves",
    "augcli.annotations": "leaves",  # a package without code: importing one of its leaves imports nothing else
    "augcli.annotations.model": "leaves",
    "augcli.annotations.geometry": "leaves",
    "augcli.annotations.layout": "leaves",
    "augcli.annotations.rules": "leaves",
    "augcli.annotations.coco": "leaves",
    "augcli.annotations.yolo": "leaves",
    "augcli.annotations.voc": "leaves",
    "augcli.annotations.masks": "leaves",
    "augcli.annotations.draw": "leaves",
    "augcli.modalities": "leaves",  # likewise
    # config
    "augcli.config": "config",
    # dataset
    "augcli.dataset": "dataset",
    "augcli.annotations.detect": "dataset",
    # plan
    "augcli.plan": "plan",
    "augcli.balance": "plan",
    "augcli.mix": "plan",
    # modality helpers
    "augcli.modalities.steps": "modality helpers",
    "augcli.modalities.policies": "modality helpers",
    "augcli.modalities.sampled": "modality helpers",
    "augcli.modalities.image_steps": "modality helpers",
    "augcli.modalities.eda": "modality helpers",
    "augcli.modalities.text_tokens": "modality helpers",
    "augcli.modalities.text_lexicon": "modality helpers",
    "augcli.modalities.video_steps": "modality helpers",
    "augcli.annotations.transform": "modality helpers",
    "augcli.annotations.worker": "modality helpers",
    "augcli.annotations.mixing": "modality helpers",
    # modalities
    "augcli.modalities.image": "modalities",
    "augcli.modalities.text": "modalities",
    "augcli.modalities.audio": "modalities",
    "augcli.modalities.video": "modalities",
    # registry
    "augcli.modalities.registry": "registry",
    # execution
    "augcli.runner": "execution",
    "augcli.journal": "execution",
    "augcli.job": "execution",
    "augcli.lock": "execution",
    "augcli.executors": "execution",
    "augcli.executors.local": "execution",
    "augcli.executors.cluster": "execution",
    "augcli.executors.dask": "execution",
    "augcli.executors.dask_worker": "execution",
    "augcli.executors.ray": "execution",
    # commands
    "augcli.preview": "commands",
    "augcli.verify": "commands",
    # cli
    "augcli.cli": "cli",
    "augcli.__main__": "cli",
    # the package face
    "augcli": "package face",
}
#: Layers whose modules may not import each other.
APART = {"modalities"}
#: Layers that modules above the registry reach only through it.
BEHIND_REGISTRY = {"modality helpers", "modalities"}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at ``root`` (a folder named augcli)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """(imported augcli module, line) for every import statement of the module, wherever it stands
    (top level, a function, an ``if TYPE_CHECKING`` block), and every ``import_module("augcli...")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def resolve(dotted: str) -> str:
        while dotted not in modules and "." in dotted:
            dotted = dotted.rpartition(".")[0]
        return dotted

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(resolve(alias.name), node.lineno) for alias in node.names
                      if alias.name.split(".")[0] == "augcli"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "augcli":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((submodule if submodule in modules else resolve(source), node.lineno))
        elif isinstance(node, ast.Call) and "import_module" in (getattr(node.func, "attr", None),
                                                               getattr(node.func, "id", None)):
            first = node.args[0] if node.args else None
            text = first.value if isinstance(first, ast.Constant) else (
                first.values[0].value if isinstance(first, ast.JoinedStr) and first.values
                and isinstance(first.values[0], ast.Constant) else "")
            if isinstance(text, str) and text.startswith("augcli"):
                found.append(("import_module:" + text, node.lineno))
    return sorted(((target, line) for target, line in found if target != name), key=lambda found: found[::-1])


def violations(root: Path, layer_of: dict[str, str]) -> list[str]:
    """Every import against the layers, every module without a layer, and every import circle."""
    files = module_files(root)
    where = {name: path.relative_to(root.parent).as_posix() for name, path in files.items()}
    edges: dict[str, set[str]] = {}
    problems = []
    for name, path in files.items():
        if name not in layer_of:
            problems.append(f"{where[name]} has no layer: add '{name}' to LAYER_OF in tests/test_layers.py "
                            f"(layers, bottom first: {', '.join(LAYERS)})")
            continue
        mine = layer_of[name]
        for target, line in imports_of(name, path, set(files)):
            if target.startswith("import_module:"):
                problems.append(f"{where[name]}:{line} imports {target.removeprefix('import_module:')} by a string "
                                "(importlib.import_module): import it by name, so the layers can be checked; "
                                "a modality through augcli.modalities.registry.plugin(name)")
                continue
            edges.setdefault(name, set()).add(target)
            theirs = layer_of.get(target)
            if theirs is None:
                continue  # reported as a module without a layer
            said = (f"{where[name]}:{line} imports {target} (layer {LAYERS.index(theirs) + 1}, {theirs}) but "
                    f"{name.removeprefix('augcli.')} is layer {LAYERS.index(mine) + 1} ({mine})")
            if target == "augcli":
                problems.append(f"{said}: {PURPOSE['package face']}; import the module that defines the name "
                                "(augcli.version for __version__)")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                problems.append(f"{said}: a module imports only its own layer and those below it; "
                                f"{PURPOSE[mine]} (move what both need down into a leaf)")
            elif theirs == mine and mine in APART:
                problems.append(f"{said}: {PURPOSE[mine]}")
            elif theirs in BEHIND_REGISTRY and LAYERS.index(mine) > LAYERS.index("registry"):
                problems.append(f"{said}: above the registry, modalities are reached only through "
                                "augcli.modalities.registry.plugin(name); "
                                f"{PURPOSE[mine] if mine in ('execution', 'commands') else PURPOSE['registry']}")
    for component in circles(edges):
        loop = shortest_loop(component[0], edges, set(component))
        problems.append(f"import circle: {' -> '.join(loop)}" + (
            f" (one of the circles among {len(component)} modules: {', '.join(component)})"
            if len(component) > len(loop) - 1 else "") +
            ": they cannot be read or tested bottom-up; move what they share down a layer")
    return problems


def shortest_loop(start: str, edges: dict[str, set[str]], within: set[str]) -> list[str]:
    """The shortest import path from ``start`` back to it through modules of ``within`` (breadth first)."""
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for nxt in sorted(edges.get(node, set()) & within):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [start, start]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each from its smallest name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_augcli_imports_run_one_way_through_the_layers():
    problems = violations(AUGCLI, LAYER_OF)
    assert not problems, "imports against DESIGN.md 'Layers':\n" + "\n".join(problems)


def test_every_layer_named_in_the_table_is_a_real_module():
    modules = set(module_files(AUGCLI))
    assert set(LAYER_OF) <= modules, f"LAYER_OF names modules that are gone: {sorted(set(LAYER_OF) - modules)}"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relpath, text in files.items():
        path = root / "augcli" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "augcli"


SYNTHETIC = {"augcli.modalities": "leaves", "augcli.modalities.text": "modalities",
             "augcli.modalities.image": "modalities", "augcli.modalities.registry": "registry",
             "augcli.plan": "plan", "augcli.errors": "leaves", "augcli.io": "leaves", "augcli.runner": "execution",
             "augcli": "package face"}


def test_an_upward_import_in_a_function_is_named_with_the_rule(tmp_path):
    root = write_tree(tmp_path, {"__init__.py": "", "modalities/__init__.py": "", "modalities/text.py": "",
                                 "plan.py": "import os\n\ndef rows():\n    from augcli.modalities import text\n"})
    assert violations(root, SYNTHETIC) == [
        "augcli/plan.py:4 imports augcli.modalities.text (layer 6, modalities) but plan is layer 4 (plan): "
        "a module imports only its own layer and those below it; planning (plan, balance, mix partners) "
        "imports no modality: what it needs of one is in a leaf (move what both need down into a leaf)"]


def test_a_circle_a_hidden_import_a_modality_pair_and_the_package_face_are_refused(tmp_path):
    root = write_tree(tmp_path, {
        "__init__.py": "",
        "errors.py": "from augcli.io import write_atomic\n",
        "io.py": "if False:\n    import augcli.errors\n",
        "modalities/__init__.py": "",
        "modalities/image.py": "from augcli import __version__\n",
        "modalities/text.py": "from augcli.modalities.image import decode\n",
        "modalities/registry.py": "",
        "runner.py": "import importlib\nm = importlib.import_module(f'augcli.modalities.{name}')\n"
                     "from augcli.modalities import image\n",
        "video.py": ""})
    problems = violations(root, SYNTHETIC)
    assert problems == [
        "augcli/modalities/image.py:1 imports augcli (layer 11, package face) but modalities.image is layer 6 "
        "(modalities): augcli/__init__ is the library's face: no augcli module imports it; import the module "
        "that defines the name (augcli.version for __version__)",
        "augcli/modalities/text.py:1 imports augcli.modalities.image (layer 6, modalities) but modalities.text is "
        "layer 6 (modalities): a modality imports layers below it and its own helpers, never another modality",
        "augcli/runner.py:2 imports augcli.modalities. by a string (importlib.import_module): import it by name, "
        "so the layers can be checked; a modality through augcli.modalities.registry.plugin(name)",
        "augcli/runner.py:3 imports augcli.modalities.image (layer 6, modalities) but runner is layer 8 "
        "(execution): above the registry, modalities are reached only through "
        "augcli.modalities.registry.plugin(name); runner, journal and job reach modalities through the registry",
        "augcli/video.py has no layer: add 'augcli.video' to LAYER_OF in tests/test_layers.py (layers, bottom "
        "first: leaves, config, dataset, plan, modality helpers, modalities, registry, execution, commands, cli, "
        "package face)",
        "import circle: augcli.errors -> augcli.io -> augcli.errors: they cannot be read or tested bottom-up; "
        "move what they share down a layer",
    ]

