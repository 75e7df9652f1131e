"""JupyterLab for the study's notebooks (``make lab``): a Jupyter server config whose contents manager keeps the
notebook sources clean (a pre-save hook).

JupyterLab saves a notebook with its outputs; the sources under ``notebooks/`` are kept without them (the executed
copies live in ``outputs/``), so a notebook run in the lab does not change ``git status``. The hook clears the
outputs and execution counts of every notebook saved under ``notebooks/`` with nbconvert's
``ClearOutputPreprocessor``, keeps the notebook-level metadata of the file it replaces (a running kernel adds its
``language_info``), and leaves every other file as it is. ``make lab`` loads this file with
``--config=lib/tools/lab.py``; ``make lab`` also points the kernels at a scratch copy of ``outputs/``
(``KDSTUDY_OUTPUTS``), so that an interactive run never overwrites the committed results.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from nbconvert.preprocessors import ClearOutputPreprocessor

SOURCES = "notebooks/"  # notebooks saved under this folder (relative to the server's root) are stripped


def strip_sources(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """Jupyter's pre-save hook: clear the outputs and execution counts of a notebook under ``notebooks/``."""
    if model.get("type") != "notebook" or not str(path).lstrip("/").startswith(SOURCES):
        return
    nb = nbformat.from_dict(model["content"])
    ClearOutputPreprocessor().preprocess(nb, {})
    root = getattr(contents_manager, "root_dir", None)
    saved = Path(root or ".") / str(path).lstrip("/")
    if saved.exists():  # a kernel's language_info and the lab's widget state are not part of the source
        nb.metadata = nbformat.read(saved, 4).metadata
    model["content"] = nb


class CleanSourcesManager(AsyncLargeFileManager):
    """The server's default contents manager with :func:`strip_sources` registered as a pre-save hook. (Setting
    the ``pre_save_hook`` option from a config file instead makes the server warn "Overriding existing
    pre_save_hook" when it applies its configuration a second time.)"""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.register_pre_save_hook(strip_sources)


def load(config) -> None:
    config.ServerApp.contents_manager_class = CleanSourcesManager


if "get_config" in globals():  # executed by jupyter as a config file
    load(get_config())  # noqa: F821
