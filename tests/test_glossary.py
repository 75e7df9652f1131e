"""The glossary (lib/analysis/glossary.py): one table for every document, covering every model of the results."""
from __future__ import annotations

import pytest

from lib.analysis import glossary
from lib.core import results

TERMS = ("KD", "alpha", "T", "corrected interval (Nadeau-Bengio)", "naive interval", "margin", "non-inferiority",
         "equivalence", "operating point", "Pareto front", "fast profile", "paper protocol", "rigorous protocol")


def test_every_model_of_the_results_has_an_entry():
    terms = [t for t, _ in glossary.GLOSSARY]
    missing = [m for m in results.MODELS if m not in terms]
    assert not missing, f"lib/analysis/glossary.py has no entry for {missing}"
    assert not [t for t in TERMS if t not in terms]
    assert len(terms) == len(set(terms)), "a term is defined twice"
    assert all(isinstance(d, str) and len(d) > 20 for _, d in glossary.GLOSSARY)


def test_rendered_as_one_markdown_table():
    md = glossary.render_markdown()
    lines = md.splitlines()
    assert lines[0] == "# Glossary" and lines[2] == "| term | definition |"
    rows = [line for line in lines if line.startswith("| **")]
    assert len(rows) == len(glossary.GLOSSARY)
    assert rows[0].startswith("| **TM** | The teacher")
    assert all(line.count(" | ") == 1 for line in rows), "a definition breaks the table"
    assert glossary.render_markdown(title=None).startswith("| term |")


def test_definition_lookup():
    assert glossary.definition("SM_INT8").startswith("The distilled student SM as a full-integer")
    assert glossary.definition("pareto front") == glossary.definition("Pareto front")
    with pytest.raises(KeyError):
        glossary.definition("no such term")
