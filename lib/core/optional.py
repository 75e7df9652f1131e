"""Optional data: what the study can run and check without it, and the one line that says what was left out.

Two inputs are not shipped with the study and may be absent on a reviewer's machine:

- ``pbcnt``: PBCNT's CSV (GEO GSE58606, README: *Data*), at ``PBCNT_CSV`` or ``params/pbcnt.yaml``'s
  ``data_path``. Without it the pbcnt runs are skipped by ``make reproduce`` and notebook 08 summarises the
  other runs.
- ``pi-reference``: the authors' Raspberry Pi logs (``../shared/reference/pi_reference``, notebook 07's
  ``reference_logs``). Without them notebook 07 shows only our runner's sessions.

A committed notebook whose outputs were made with one of them can only be re-checked where it exists:
:func:`missing_for_notebook` names what a notebook needs and lacks (nbval leaves it out; ``make test`` prints
:func:`skip_line` once per missing source). Notebook 08 of either profile reads every run of its profile and the
Pi import of the paper run, so it needs both.
"""
from __future__ import annotations

import os
from pathlib import Path

from lib.core import params, paths

# Notebook 07's default for ``reference_logs`` (tests check they agree). KDSTUDY_PI_REFERENCE overrides the place
# the checks look (tests use it to simulate a machine without ../shared).
PI_REFERENCE_LOGS = "../shared/reference/pi_reference"
SOURCES = ("pbcnt", "pi-reference")


def pbcnt_path() -> Path | None:
    try:
        return params.load("pbcnt").resolved_data_path()
    except params.ParamsError:  # pragma: no cover - the committed file is valid
        return None


def pi_reference_path() -> Path:
    return paths.resolve(os.environ.get("KDSTUDY_PI_REFERENCE") or PI_REFERENCE_LOGS)


def available(source: str) -> bool:
    if source == "pbcnt":
        p = pbcnt_path()
        return bool(p and p.is_file())
    if source == "pi-reference":
        return pi_reference_path().is_dir()
    raise ValueError(f"unknown optional source {source!r}: one of {', '.join(SOURCES)}")


def where(source: str) -> str:
    if source == "pbcnt":
        # make sets PBCNT_CSV to the default place when the user did not, so name both
        return (f"no file at PBCNT_CSV={os.environ.get('PBCNT_CSV') or pbcnt_path()} (data/GSE58606_data.csv "
                "unless PBCNT_CSV names another file)")
    return f"no folder at {pi_reference_path()}"


def needs(notebook: Path | str) -> tuple[str, ...]:
    """The optional sources an executed notebook ``outputs/<run>/<nb>.ipynb`` was made with."""
    p = Path(notebook)
    run, name = p.parent.name, p.stem
    out = []
    if run.startswith("pbcnt") or run.startswith("summary"):
        out.append("pbcnt")
    if name.startswith("07_") or run.startswith("summary"):
        out.append("pi-reference")
    return tuple(out)


def missing_for_notebook(notebook: Path | str) -> tuple[str, ...]:
    return tuple(s for s in needs(notebook) if not available(s))


def skip_line(source: str, files) -> str:
    files = sorted(str(Path(f).relative_to(paths.ROOT)) if Path(f).is_absolute() and
                   Path(f).is_relative_to(paths.ROOT) else str(f) for f in files)
    what = {"pbcnt": "PBCNT (README: Data)", "pi-reference": "the authors' Pi logs"}[source]
    return (f"optional data missing: {what}: {where(source)}; not checked: {len(files)} notebook(s): "
            f"{', '.join(files)}")
