"""pytest plugin for nbval over executed notebooks, loaded with ``-p tests.nbval_plugin`` by ``make test`` (a
conftest.py under tests/ would not apply to notebooks under outputs/).

- stderr is not compared (TensorFlow and LiteRT log there), nor is a table's HTML: the same table's plain text,
  which every checked output has, is compared instead, so that one rule (and one declared fragile span of
  ``tests/tolerances.yaml``) holds for a table however it is rendered;
- a checked cell (``NBVAL_CHECK_OUTPUT``) passes when its text is the same word for word and every number in it is
  within the profile's text tolerance (``tests/tolerances.yaml``, :func:`lib.tools.recheck.text_equal`): floats of
  trained models differ in the last digits across machines, so exact text cannot be the test of a re-execution;
- optional data stays optional: a notebook whose inputs are absent (PBCNT's CSV; the authors' Pi logs under
  ``../shared/reference``) is not collected, and one line per missing source says which notebooks were left out.

A run's notebooks run in order in one process (``-p no:xdist``): notebook 03 reads the models that 02 saved in the
same scratch outputs tree. ``make test`` starts two such processes on different runs (``lib.tools.recheck buckets``);
each records the notebooks it executed in the scratch tree's manifest.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from nbval import plugin as nbp

from lib.core import optional
from lib.tools import recheck

_TOL = None


def _tolerances():
    global _TOL
    if _TOL is None:
        _TOL = recheck.load_tolerances()
    return _TOL


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr", "text/html")


# ------------------------------------------------------------------------------------------------ tolerance
def _flatten(cell, outputs, skip):
    out = defaultdict(list)
    for o in nbp.transform_streams_for_comparison(outputs):
        for key in o.keys():
            if key in skip:
                continue
            if key == "data":
                for dk in o[key].keys():
                    if dk not in skip:
                        out[dk].append(cell.sanitize(o[key][dk]))
            else:
                out[key].append(cell.sanitize(o[key]))
    return out


_exact_compare = nbp.IPyNbCell.compare_outputs
_FRAGILE: list[str] = []


def _tolerant_compare(self, test, ref, skip_compare=None):
    skip = skip_compare or self.parent.skip_compare
    a, b = _flatten(self, ref, skip), _flatten(self, test, skip)
    profile = recheck.profile_of(Path(str(self.fspath)).parent.name)
    rule, fragile = _tolerances().text[profile], _tolerances().fragile[profile]
    if set(a) == set(b) and all(len(a[k]) == len(b[k]) for k in a):
        reasons = []
        for key in a:
            for va, vb in zip(a[key], b[key]):
                if va == vb:
                    continue
                if isinstance(va, str) and isinstance(vb, str):
                    ok, why = recheck.text_equal(va, vb, rule, fragile)
                    if ok:
                        if why:  # a declared fragile span differed: allowed, and said
                            _FRAGILE.append(f"{Path(str(self.fspath)).parent.name}/{Path(str(self.fspath)).name} "
                                            f"{self.name}: {why}")
                        continue
                    reasons.append(f"{key}: {why}")
                else:
                    reasons.append(f"{key}: differs")
        if not reasons:
            return True
    else:
        reasons = ["different output kinds or counts"]
    result = _exact_compare(self, test, ref, skip_compare)  # fills nbval's side-by-side report
    self.comparison_traceback.insert(0, "tolerant comparison (tests/tolerances.yaml, text): " + "; ".join(reasons))
    return result


nbp.IPyNbCell.compare_outputs = _tolerant_compare


# ------------------------------------------------------------------------------------------------ optional data
_LEFT_OUT: dict[str, list[str]] = defaultdict(list)


def pytest_collection_modifyitems(session, config, items):
    """Leave out the cells of notebooks whose optional inputs are absent (pytest does not consult
    pytest_ignore_collect for paths named on the command line)."""
    keep, drop = [], []
    for item in items:
        p = Path(str(item.fspath))
        missing = optional.missing_for_notebook(p) if p.suffix == ".ipynb" else ()
        if missing:
            drop.append(item)
            for source in missing:
                if str(p) not in _LEFT_OUT[source]:
                    _LEFT_OUT[source].append(str(p))
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session):
    """Record which notebooks this session re-executes (lib.tools.recheck compares their outputs, and only theirs)."""
    import os

    root = os.environ.get("KDSTUDY_OUTPUTS")
    notebooks = {str(item.fspath) for item in session.items if str(item.fspath).endswith(".ipynb")}
    if root and notebooks:
        recheck.write_manifest(Path(root), notebooks)


def _lines():
    return [optional.skip_line(source, files) for source, files in sorted(_LEFT_OUT.items())]


def pytest_terminal_summary(terminalreporter):
    for line in _FRAGILE:
        terminalreporter.write_line(f"allowed (declared fragile in tests/tolerances.yaml): {line}")
    for line in _lines():
        terminalreporter.write_line(line)
