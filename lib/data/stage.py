"""The opening of every per-split notebook (02-06): the run's params, its dataset and its splits, in one call."""
from __future__ import annotations

from lib.core import params
from lib.data import datasets, splits


def open_run(namespace: dict) -> tuple[params.Params, datasets.Dataset, list[splits.Split]]:
    """``(P, ds, S)`` of the notebook whose globals are ``namespace`` (its ``run`` and any papermill overrides):
    validated params, the loaded dataset and the run's splits (computed once, then read from ``splits.json``)."""
    P = params.for_notebook(namespace)
    ds = datasets.load(P)
    return P, ds, splits.ensure(P, ds.y, ds.groups)
