"""Which lib/ modules each notebook uses, for the Makefile: a notebook re-runs when a module it imports
(directly or through other lib modules) changes, not when an unrelated one does.

``python -m lib.tools.deps --layers`` prints lib/'s packages bottom up with what each imports, and any import
that breaks the layering (:data:`LAYERS`) or closes a cycle. ``python -m lib.tools.deps`` prints make rules ``NB_LIB_<notebook> := lib/a.py lib/b.py ...`` and, for every params
file, ``PARAMS_<run> := params/<run>.yaml params/<base>.yaml ...`` (the file and those it ``extends``); the
Makefile includes them from ``.deps.mk``, regenerated whenever a notebook, a lib module or a params file changes.
Standard library only: the system python3 runs it before ``.venv`` exists, so ``extends:`` is read with a
pattern for its one form (a top-level ``extends: <run>``, optionally quoted, optionally commented), which
``tests/test_deps.py`` checks against :func:`lib.core.params.extends_chain` for every committed run.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

from lib.core import paths

_EXTENDS = re.compile(r"""^extends:[ \t]*(["']?)([A-Za-z0-9_.-]*)\1[ \t]*(?:#.*)?\r?$""", re.M)
_NO_BASE = ("", "null", "Null", "NULL", "~")  # YAML's empty values: no base run


def module_file(dotted: str) -> Path | None:
    """The file of a lib module or package (``lib.core.paths`` -> lib/core/paths.py, ``lib.core`` ->
    lib/core/__init__.py); None for anything else."""
    rel = Path(*dotted.split("."))
    for f in (paths.ROOT / rel.with_suffix(".py"), paths.ROOT / rel / "__init__.py"):
        if f.is_file():
            return f
    return None


def _dotted(f: Path) -> str:
    rel = f.relative_to(paths.ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _imports(source: str, package: str = "lib") -> set[str]:
    """The lib modules that ``source`` (a module of ``package``) names, as dotted names: ``import lib.a.b``,
    ``from lib.a import b`` (b a module, else the package lib.a), ``from lib.a.b import x``, ``lib.a.b.x``
    attribute chains, and relative imports (``from . import b``, ``from .b import x``)."""
    out: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out

    def add(name: str) -> None:
        if name == "lib" or name.startswith("lib."):
            while name and module_file(name) is None:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base == "lib" or base.startswith("lib."):
                add(base)
                for a in node.names:
                    if module_file(f"{base}.{a.name}") is not None:
                        add(f"{base}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                add(a.name)
        elif isinstance(node, ast.Attribute):
            chain, n = [], node
            while isinstance(n, ast.Attribute):
                chain.append(n.attr)
                n = n.value
            if isinstance(n, ast.Name) and n.id == "lib":
                add(".".join(["lib", *reversed(chain)]))
    return out


def module_closure(names: set[str]) -> list[str]:
    """The lib modules in ``names`` (dotted), everything they import from lib and the packages they sit in, as
    sorted file paths relative to the repository root."""
    todo, seen = list(names) + ["lib"], set()
    while todo:
        n = todo.pop()
        if n in seen or module_file(n) is None:
            continue
        seen.add(n)
        parent = n.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing lib.core.paths runs lib/__init__.py and lib/core/__init__.py
        f = module_file(n)
        package = n if f.name == "__init__.py" else parent
        todo += [m for m in _imports(f.read_text(), package) if m not in seen]
    return sorted(module_file(n).relative_to(paths.ROOT).as_posix() for n in seen)


def notebook_modules(nb_path: Path) -> list[str]:
    cells = json.loads(Path(nb_path).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return module_closure(_imports(code))


def extends_chain(run: str, params_dir: Path | None = None) -> list[str]:
    """The params files ``run`` reads: itself, then the run it ``extends``, and so on (missing files and loops
    end the chain; ``lib.core.params`` reports them when the run is loaded)."""
    d = Path(params_dir or paths.PARAMS)
    chain = [run]
    while True:
        f = d / f"{chain[-1]}.yaml"
        text = f.read_text() if f.exists() else ""
        m = _EXTENDS.search(text)
        nested = m is not None and not m.group(2) and re.match(r"\n[ \t-]", text[m.end():])  # a value on the next line
        if (m is None and re.search(r"^extends\s*:", text, re.M)) or nested:
            raise ValueError(f"{f}: cannot read its 'extends:' line (expected 'extends: <run>' on one line)")
        if m is None or m.group(2) in _NO_BASE or m.group(2) in chain:
            return chain
        chain.append(m.group(2))


def _top_level(key: str, run: str, params_dir: Path | None = None) -> str | None:
    """The value of a top-level ``key: value`` line in the run's file or the first file it extends that sets it
    (one-line scalars only; what the Makefile needs to group runs before .venv exists)."""
    d = Path(params_dir or paths.PARAMS)
    pattern = re.compile(rf"""^{key}:[ \t]*(["']?)([^"'#\r\n]*?)\1[ \t]*(?:#.*)?\r?$""", re.M)
    for r in extends_chain(run, d):
        f = d / f"{r}.yaml"
        m = pattern.search(f.read_text()) if f.exists() else None
        if m is not None:
            return m.group(2).strip()
    return None


def run_kinds(params_dir: Path | None = None) -> dict[str, list[str]]:
    """Every ``params/*.yaml`` by kind: ``study`` (the study's datasets, one summary across them), ``table`` (a
    user's dataset: a summary of its own) and ``transfer`` (a ``transfer:`` block, notebook 03b), each split into
    the full and the fast profile (a name ending in ``-fast``)."""
    d = Path(params_dir or paths.PARAMS)
    kinds = {k: [] for k in ("study", "study_fast", "table", "table_fast", "transfer", "transfer_fast")}
    for f in sorted(d.glob("*.yaml")):
        run = f.stem
        chain = extends_chain(run, d)
        transfer = any(re.search(r"^transfer:", (d / f"{r}.yaml").read_text(), re.M)
                       for r in chain if (d / f"{r}.yaml").exists())
        kind = "transfer" if transfer else ("table" if _top_level("dataset", run, d) == "table" else "study")
        kinds[kind + ("_fast" if run.endswith("-fast") else "")].append(run)
    return kinds


def rules() -> list[str]:
    out = [f"NB_LIB_{nb.stem} := {' '.join(notebook_modules(nb))}" for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb"))]
    out += [f"PARAMS_{f.stem} := {' '.join(f'params/{r}.yaml' for r in extends_chain(f.stem))}"
            for f in sorted(paths.PARAMS.glob("*.yaml"))]
    # The runs, discovered (the Makefile's RUN_KINDS_<kind>), and each run's data file and dataset where its params
    # name them (DATA_<run>, DATASET_<run>): a run whose data file is absent is skipped with a note.
    out += [f"RUN_KINDS_{k} := {' '.join(v)}" for k, v in run_kinds().items()]
    for f in sorted(paths.PARAMS.glob("*.yaml")):
        for key, var in (("data_path", "DATA"), ("dataset", "DATASET")):
            value = _top_level(key, f.stem)
            if value and value not in _NO_BASE:
                out.append(f"{var}_{f.stem} := {value.replace(' ', chr(92) + ' ')}")  # make escapes spaces
    return out


# The layers of lib/, bottom first: a package imports only from itself and the packages before it. ``device`` (what a
# Raspberry Pi copies) imports nothing else of lib/, like ``core``.
LAYERS = ("core", "device", "data", "train", "compress", "replicate", "transfer", "analysis", "tools")
SELF_CONTAINED = ("core", "device")


def module_graph() -> dict[str, set[str]]:
    """Every lib module (dotted) and the lib modules it imports (packages' ``__init__`` left out)."""
    graph = {}
    for f in sorted(paths.LIB.rglob("*.py")):
        name = _dotted(f)
        package = name if f.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _imports(f.read_text(), package) if module_file(m).name != "__init__.py"}
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


def layer_violations(graph: dict[str, set[str]] | None = None) -> list[str]:
    """Imports that break the layering (an import of a later layer, or of another package from ``core`` or
    ``device``) and import cycles between modules, one line each; empty when the structure holds."""
    graph = module_graph() if graph is None else graph
    out = []
    for mod, deps in sorted(graph.items()):
        a = _package(mod)
        for dep in sorted(deps):
            b = _package(dep)
            if a in LAYERS and b in LAYERS and a != b and (
                    LAYERS.index(b) > LAYERS.index(a) or a in SELF_CONTAINED):
                out.append(f"{mod} imports {dep}: lib/{a} may not import lib/{b}")
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                out.append("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return out


def package_graph(graph: dict[str, set[str]] | None = None) -> list[str]:
    """One line per package of lib/, bottom layer first: its modules and the packages it imports."""
    graph = module_graph() if graph is None else graph
    lines = []
    for pkg in LAYERS:
        mods = sorted(m.rsplit(".", 1)[1] for m in graph if _package(m) == pkg)
        uses = sorted({_package(d) for m, ds in graph.items() if _package(m) == pkg for d in ds} - {pkg, ""},
                      key=LAYERS.index)
        lines.append(f"lib/{pkg}/ ({', '.join(mods)}) imports: {', '.join(f'lib/{u}/' for u in uses) or 'nothing of lib/'}")
    return lines


if __name__ == "__main__":
    if sys.argv[1:] == ["--layers"]:  # the structure of lib/ and whatever breaks it (exit 1)
        print("\n".join(package_graph()))
        bad = layer_violations()
        print("\n".join(bad) if bad else "no import from a later layer, no import cycle")
        sys.exit(1 if bad else 0)
    print("\n".join(rules()))
    sys.exit(0)
