"""README is the front door: short, its answers copied from the computed summary (so they cannot outlive the
numbers), its links resolving, and the test command CI runs."""
from __future__ import annotations

import re

from lib.core import paths

ROOT = paths.ROOT
README = (ROOT / "README.md").read_text()


def _glance_answers(summary: str) -> list[tuple[str, str]]:
    """(question, bold answer) of the first table after '## Answers at a glance' in summary.md."""
    block = summary.split("## Answers at a glance", 1)[1].split("\n\n![", 1)[0]
    out = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[1].startswith("**"):
            question = re.sub(r"\s*\((?:SM|Pareto)[^)]*\)$", "", cells[0])
            out.append((question, cells[1]))
    return out


def test_readme_answers_are_the_summarys():
    block = README.split("<!-- answers:", 1)[1].split("<!-- answers end -->", 1)[0]
    readme = [tuple(m) for m in re.findall(r"^- (.+?\?) (\*\*.+)$", block, re.M)]
    summary = _glance_answers((ROOT / "outputs" / "summary.md").read_text())
    assert readme and readme == summary, (readme, summary)


def test_readme_is_one_screen_of_sections_with_links_that_resolve():
    assert len(README.splitlines()) < 200
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README):
        if not re.match(r"[a-z]+:", target):
            assert (ROOT / target).exists(), target
    for heading in ("## Read the results", "## Explore in JupyterLab", "## Run one run", "## Classify new patients",
                    "## Use your own data", "## Run on a cluster", "## Test"):
        assert heading in README


def test_the_test_command_is_readmes_and_ci_runs_it():
    assert "make test " in README or "make test\n" in README
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()
