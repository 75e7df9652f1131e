"""Params files: every committed run validates; each kind of mistake is an error that names the key."""
import pytest

from lib.core import params
from lib.core.params import ParamsError
from lib.analysis import runs


@pytest.mark.parametrize("run", params.all_runs())
def test_committed_params_validate(run):
    p = runs.load_any(run)  # transfer runs (a 'transfer:' block) are lib.transfer.transfer_params'; see tests/test_transfer.py
    assert p.run == run


def test_expected_runs_exist():
    assert {"wdbc", "bcd", "pbcnt", "wdbc-paper"} <= set(params.all_runs())
    assert {"wdbc-fast", "bcd-fast", "pbcnt-fast", "wdbc-paper-fast"} <= set(params.all_runs())


def test_fast_profile_extends_and_overrides():
    full, fast = params.load("wdbc"), params.load("wdbc-fast")
    assert fast.dataset == full.dataset and fast.folds == 2 and fast.teacher_epochs < full.teacher_epochs
    assert params.extends_chain("wdbc-fast") == ["wdbc-fast", "wdbc"]


def test_paper_run_is_the_authors_setting():
    p = params.load("wdbc-paper")
    assert (p.protocol, p.pca_components, p.test_size, p.kd_loss, p.kd_lr, p.student_lr) == \
        ("paper", 26, 0.15, "paper", 1e-3, 1e-4)
    assert (p.kd_alpha, p.kd_temperature, p.batch_size, p.teacher_epochs) == (0.1, 10.0, 32, 50)


@pytest.mark.parametrize("text, match", [
    ("dataset: wdbc\nprotocol: rigorous\nepochs: 3\n", "unknown key.*'epochs'"),
    ("dataset: wdbc\nprotocol: rigorous\nfolds: 1\n", "'folds' = 1: k-fold needs at least 2"),
    ("dataset: wdbc\nprotocol: rigorous\npca_components: 31\n", "'pca_components' = 31.*30 features"),
    ("dataset: bcd\nprotocol: rigorous\npca_components: 10\n", "'pca_components' = 10.*9 features"),
    ("dataset: wdbc\nprotocol: rigorous\nfolds: '5'\n", "'folds' = '5' has type str, expected int"),
    ("dataset: wdbc\nprotocol: rigorous\nteacher_lr: 1e-4\n", "'teacher_lr' = '1e-4' has type str"),
    ("dataset: wdbc\nprotocol: rigorous\nseed: true\n", "'seed' = True has type bool"),
    ("dataset: mnist\nprotocol: rigorous\n", "'dataset' = 'mnist': must be one of"),
    ("dataset: wdbc\nprotocol: sloppy\n", "'protocol' = 'sloppy'"),
    ("dataset: wdbc\nprotocol: rigorous\nkd_alpha: 1.5\n", "'kd_alpha' = 1.5"),
    ("dataset: wdbc\nprotocol: rigorous\ninner_val_size: 0.7\n", "'inner_val_size' = 0.7"),
    ("dataset: wdbc\nprotocol: rigorous\nablation_temperatures: []\n", "'ablation_temperatures'"),
    ("dataset: pbcnt\nprotocol: rigorous\n", "'data_path' = None: pbcnt is read from a CSV"),
    ("protocol: rigorous\n", "missing required key.*dataset"),
    ("dataset: wdbc\nprotocol: rigorous\nrun: other\n", "'run' is the file's name"),
    ("- a\n- b\n", "expected a mapping"),
    ("dataset: [wdbc\n", "not valid YAML"),
    ("dataset: wdbc\nprotocol: rigorous\nprune_schedules: ['polynomial:0.7']\n",
     "'polynomial:0.7' -> TM_pruned70 is not a model of the results contract"),
    ("dataset: wdbc\nprotocol: rigorous\nprune_schedules: ['constant:0.8']\n",
     "'constant:0.8': only the paper's constant:0.5 has a model name"),
    ("dataset: wdbc\nprotocol: rigorous\nprune_schedules: ['polynomial:0.905']\n",
     "'polynomial:0.905': the sparsity must be a whole percentage"),
    ("dataset: wdbc\nprotocol: rigorous\nprune_schedules: ['polynomial:0.9', 'polynomial:0.90']\n",
     "two entries make the same model TM_pruned90"),
])
def test_bad_params_name_the_key(params_dir, text, match, write):
    write(params_dir, "bad", text)
    with pytest.raises(ParamsError, match=match):
        params.load("bad")


def test_unknown_run_lists_known(params_dir, write):
    write(params_dir, "a", "dataset: wdbc\nprotocol: paper\n")
    with pytest.raises(ParamsError, match="no params file .*known runs: a"):
        params.load("zzz")


def test_extends_loop(params_dir, write):
    write(params_dir, "a", "extends: b\n")
    write(params_dir, "b", "extends: a\n")
    with pytest.raises(ParamsError, match="loops"):
        params.load("a")


def test_for_notebook_applies_injected_overrides():
    p = params.for_notebook({"run": "wdbc-fast", "teacher_epochs": 7, "unrelated": 1, "extends": "wdbc"})
    assert p.teacher_epochs == 7 and p.run == "wdbc-fast"
    with pytest.raises(ParamsError, match="must define 'run'"):
        params.for_notebook({})
    with pytest.raises(ParamsError, match="'folds' = 1"):
        params.for_notebook({"run": "wdbc", "folds": 1})


def test_pbcnt_env_overrides_data_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PBCNT_CSV", str(tmp_path / "x.csv"))
    assert params.load("pbcnt").resolved_data_path() == tmp_path / "x.csv"
    monkeypatch.delenv("PBCNT_CSV")
    assert params.load("pbcnt").resolved_data_path() == params.paths.ROOT / "data" / "GSE58606_data.csv"
