"""requirements.in (direct pins), requirements.txt (lock) and environment.yml (conda) agree."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned with ==: {line!r}"
            out[norm(name)] = version
    return out


def test_direct_pins_are_locked_and_in_environment_yml():
    direct = pins((ROOT / "requirements.in").read_text().splitlines())
    lock = pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    conda = pins(pip_section)
    assert conda == direct, "environment.yml's pip pins must equal requirements.in"
    for name, version in direct.items():
        assert lock.get(name) == version, f"{name}=={version} in requirements.in but {lock.get(name)} in the lock"


def test_core_packages_pinned():
    direct = pins((ROOT / "requirements.in").read_text().splitlines())
    for pkg in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "jupyterlab", "papermill",
                "scikit-learn", "seaborn", "pandas", "scipy", "ai-edge-litert", "nbval"):
        assert pkg in direct
