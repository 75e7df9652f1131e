"""The Makefile's per-notebook lib dependencies (lib/tools/deps.py) follow imports, transitively."""
import subprocess

import pytest
import sys

from lib.core import paths
from lib.tools import deps


def test_notebook_dependencies_follow_imports():
    nb = paths.NOTEBOOKS
    teacher = deps.notebook_modules(nb / "02_teacher.ipynb")
    assert {"lib/train/fitting.py", "lib/core/stats.py", "lib/train/architectures.py", "lib/core/metrics.py", "lib/core/paths.py"} <= set(teacher)
    assert "lib/device/pilogs.py" not in teacher and "lib/compress/pruning.py" not in teacher
    pi = deps.notebook_modules(nb / "07_pi_measurements.ipynb")
    assert "lib/device/pilogs.py" in pi and "lib/device/pi_runner.py" in pi and "lib/train/fitting.py" not in pi


def test_imports_forms():
    src = ("import lib\nfrom lib.core import paths, params\nfrom lib.data.splits import Split\nimport lib.train.teacher\n"
           "lib.compress.tflite.convert()\nfrom lib.device import nothing_here\n")
    assert deps._imports(src) == {"lib", "lib.core", "lib.core.paths", "lib.core.params", "lib.data.splits",
                                  "lib.train.teacher", "lib.compress", "lib.compress.tflite", "lib.device"}
    # relative imports resolve against the importing module's package
    assert deps._imports("from . import litert\nfrom .pi_runner import bench\n", "lib.device") == {
        "lib.device", "lib.device.litert", "lib.device.pi_runner"}


def test_closure_includes_the_packages_a_module_sits_in():
    files = deps.module_closure({"lib.device.litert"})
    assert files == ["lib/__init__.py", "lib/device/__init__.py", "lib/device/litert.py"]


def test_each_notebook_depends_only_on_its_stage_and_the_layers_below():
    """Editing a later stage (or the report) never re-runs an earlier notebook."""
    nb = paths.NOTEBOOKS
    above = {"01_data_exploration": ("train", "compress", "transfer", "analysis", "tools", "replicate"),
             "02_teacher": ("compress", "transfer", "analysis", "tools", "replicate"),
             "03_distillation": ("compress", "transfer", "analysis", "tools", "replicate"),
             "04_pruning": ("transfer", "analysis", "tools", "replicate"),
             "05_quantization": ("transfer", "analysis", "tools", "replicate"),
             "06_tflite_export": ("transfer", "analysis", "tools", "replicate"),
             "06b_seed_replicates": ("transfer", "analysis", "tools"),
             "07_pi_measurements": ("data", "train", "compress", "transfer", "analysis", "tools", "replicate"),
             "03b_cross_dataset": ("compress", "analysis", "tools", "replicate"),
             "08_statistics": ("tools",)}
    for name, packages in above.items():
        files = deps.notebook_modules(nb / f"{name}.ipynb")
        bad = [f for f in files if f.split("/")[1] in packages]
        assert not bad, (name, bad)
    pruning = deps.notebook_modules(nb / "04_pruning.ipynb")
    assert not {"lib/train/student_bank.py", "lib/train/distillation.py", "lib/compress/deploy.py"} & set(pruning)


def test_runs_with_the_standard_library_only():
    code = "import runpy; runpy.run_module('lib.tools.deps', run_name='__main__')"
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=paths.ROOT, capture_output=True, text=True)  # no site
    assert out.returncode == 0, out.stderr
    assert "NB_LIB_01_data_exploration := " in out.stdout
    assert "PARAMS_wdbc-fast := params/wdbc-fast.yaml params/wdbc.yaml" in out.stdout.splitlines()


def test_params_chain_equals_lib_params_for_every_run():
    from lib.core import params

    for run in params.all_runs():
        assert deps.extends_chain(run) == params.extends_chain(run), run


def test_params_chain_reads_quotes_and_comments(tmp_path):
    (tmp_path / "a.yaml").write_text("description: 'extends: nothing here'\nextends: \"b\"   # the base run\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("# extends: c  (a comment, not a key)\nextends: 'c'\n")
    (tmp_path / "c.yaml").write_text("dataset: wdbc\n")
    assert deps.extends_chain("a", tmp_path) == ["a", "b", "c"]
    (tmp_path / "c.yaml").write_text("extends: a\n")  # a loop ends the chain (lib.core.params reports it)
    assert deps.extends_chain("a", tmp_path) == ["a", "b", "c"]
    (tmp_path / "c.yaml").write_bytes(b"extends: null\r\nseed: 1\r\n")  # CRLF, and YAML's null: no base
    (tmp_path / "b.yaml").write_bytes(b"extends: c\r\n")
    assert deps.extends_chain("a", tmp_path) == ["a", "b", "c"]
    (tmp_path / "c.yaml").write_text("extends:\n  - a\n")  # a form the Makefile cannot follow: an error, not a guess
    with pytest.raises(ValueError, match="c.yaml: cannot read its 'extends:' line"):
        deps.extends_chain("c", tmp_path)


def test_lib_is_layered_without_cycles():
    """Each package of lib/ imports only itself and the layers below it (deps.LAYERS); no module import cycle."""
    assert deps.layer_violations() == []
    assert [line.split(" (")[0] for line in deps.package_graph()] == [f"lib/{p}/" for p in deps.LAYERS]


def test_layer_check_catches_an_upward_import_and_a_cycle():
    graph = deps.module_graph()
    graph["lib.core.metrics"] = graph["lib.core.metrics"] | {"lib.train.fitting"}   # core reaching up
    graph["lib.device.litert"] = graph["lib.device.litert"] | {"lib.core.paths"}     # device leaving its folder
    graph["lib.data.splits"] = graph["lib.data.splits"] | {"lib.data.stage"}        # stage -> splits -> stage
    bad = deps.layer_violations(graph)
    assert "lib.core.metrics imports lib.train.fitting: lib/core may not import lib/train" in bad
    assert "lib.device.litert imports lib.core.paths: lib/device may not import lib/core" in bad
    assert any(b.startswith("import cycle: ") and "lib.data.stage" in b and "lib.data.splits" in b for b in bad)


def test_layers_command_exits_nonzero_only_on_a_violation():
    out = subprocess.run([sys.executable, "-m", "lib.tools.deps", "--layers"], cwd=paths.ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("no import from a later layer, no import cycle")
