"""pytest plugin for nbval over executed notebooks, loaded with ``-p tests.nbval_plugin`` by ``make test`` (a
conftest.py under tests/ would not apply to notebooks under outputs/): stderr is not compared (TensorFlow and
LiteRT log there). Notebooks run in order in one process (``-p no:xdist``): notebook 03 reads the models that
02 saved in the same scratch outputs tree.
"""


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)
