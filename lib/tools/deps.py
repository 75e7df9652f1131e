"""Which lib/ modules each notebook uses, for the Makefile: a notebook re-runs when a module it imports
(directly or through other lib modules) changes, not when an unrelated one does.

``python -m lib.tools.deps`` prints make rules ``NB_LIB_<notebook> := lib/a.py lib/b.py ...`` and, for every params
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

ALWAYS = ("__init__", "paths")
_EXTENDS = re.compile(r"""^extends:[ \t]*(["']?)([A-Za-z0-9_.-]*)\1[ \t]*(?:#.*)?\r?$""", re.M)
_NO_BASE = ("", "null", "Null", "NULL", "~")  # YAML's empty values: no base run


def _imports(source: str) -> set[str]:
    """lib modules named by ``from lib import x``, ``from lib.x import``, ``import lib.x``, ``lib.x.`` and, inside
    lib, ``from . import x`` / ``from .x import``."""
    out: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 or mod == "lib" or mod.startswith("lib."):
                base = mod[4:] if mod.startswith("lib.") else ("" if mod == "lib" else mod)
                if base:
                    out.add(base.split(".")[0])
                else:
                    out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lib."))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lib":
            out.add(node.attr)
    return out


def module_closure(names: set[str]) -> list[str]:
    """The lib modules in ``names`` and everything they import from lib, as sorted file paths."""
    known = {p.stem for p in paths.LIB.glob("*.py")}
    todo, seen = [n for n in names if n in known], set(ALWAYS)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [m for m in _imports((paths.LIB / f"{n}.py").read_text()) if m in known and m not in seen]
    return sorted(f"lib/{n}.py" for n in seen if n in known)


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


def rules() -> list[str]:
    out = [f"NB_LIB_{nb.stem} := {' '.join(notebook_modules(nb))}" for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb"))]
    out += [f"PARAMS_{f.stem} := {' '.join(f'params/{r}.yaml' for r in extends_chain(f.stem))}"
            for f in sorted(paths.PARAMS.glob("*.yaml"))]
    return out


if __name__ == "__main__":
    print("\n".join(rules()))
    sys.exit(0)
