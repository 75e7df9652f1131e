"""Figure helpers shared by the notebooks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from lib.core import paths

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 120, "savefig.bbox": "tight",
                     "svg.hashsalt": "kdstudy", "figure.max_open_warning": 0})


def save(fig, run: str, name: str):
    """Save ``fig`` as ``outputs/<run>/figures/<name>.png`` and return the path (the notebook shows the fig)."""
    path = paths.figures_dir(run) / f"{name}.png"
    fig.savefig(path, metadata={"Software": None})
    return path
