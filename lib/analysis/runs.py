"""Every kind of run: ordinary runs (:mod:`lib.core.params`) and cross-dataset transfer runs (:mod:`lib.transfer.transfer_params`).

A params file with a ``transfer:`` block (itself or a file it ``extends``) is a transfer run. :func:`load_any`
returns a :class:`lib.core.params.Params` or a :class:`lib.transfer.transfer_params.TransferParams` accordingly.
``python -m lib.analysis.runs [run ...]`` validates the named runs (default: every ``params/*.yaml``), printing
``ok  <run>`` or ``ERR <message>``, and exits 1 on any error (``make check-params``).
"""
from __future__ import annotations

import sys

from lib.core import params
from lib.core.params import Params, ParamsError
from lib.transfer import transfer_params
from lib.transfer.transfer_params import TransferParams


def is_transfer(run: str) -> bool:
    return transfer_params.is_transfer(run)


def load_any(run: str) -> Params | TransferParams:
    """The validated params of any run: TransferParams when its file holds a ``transfer:`` block."""
    return transfer_params.load(run) if transfer_params.is_transfer(run) else params.load(run)


def all_runs() -> list[str]:
    return params.all_runs()


def ordinary_runs() -> list[str]:
    """Runs of the numbered notebooks 01-07 (no ``transfer:`` block)."""
    return [r for r in params.all_runs() if not is_transfer(r)]


def transfer_runs() -> list[str]:
    return [r for r in params.all_runs() if is_transfer(r)]


def main(argv: list[str]) -> int:
    status = 0
    for name in argv or all_runs():
        try:
            load_any(name)
            print(f"ok  {name}")
        except ParamsError as e:
            print(f"ERR {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
