"""The study's report as a Jupyter Book (1.x): a static site under ``outputs/report/``, built offline from what
``outputs/`` holds.

``make report`` (or ``python -m lib.tools.book [--runs r1 r2 ...] [--out DIR]``) never runs a notebook (the book's
``execute_notebooks`` is off; ``make reproduce report`` does both). The book's configuration is in ``report/``
(``_config.yml``; ``_toc.yml`` holds the fixed pages); this module stages the sources into a temporary folder,
neither ``outputs/`` nor the repository's files are written to, and builds there:

- ``index``: ``outputs/summary.md`` (the first page: the answers table on the first screen), then the pages it
  links to (notebook 08's ``outputs/summary/pages/*.md``, one per question: a part of their own), ``model_card``:
  ``outputs/model_card.md`` (a notice when either is missing), ``figures``: the key figures with captions,
  ``glossary``: :mod:`lib.analysis.glossary`, ``about``: the study, its runs and their notebooks;
- one chapter per run (the folders ``outputs/<run>/`` holding executed notebooks ``[0-9]*.ipynb``; papermill's
  ``*.tmp.ipynb`` / ``*.failed.ipynb`` are skipped): a page with the run's description, notebooks and
  ``results.csv``, then each executed notebook, rendered as executed (code shown); the full runs first
  (``wdbc``, ``bcd``, ``pbcnt``, ``wdbc-paper``, ``wdbc-to-bcd`` (03b), ``summary`` (08), then any other), then
  a separate part for the fast profile (``*-fast``: a smoke test, its numbers are not results), which opens with
  the list of its runs and notebooks and ``outputs/summary-fast.md``.
- Figures: a markdown image alone on its line (the summary's) becomes a figure whose caption is its alt text.
- Links of the markdown files (from the file's folder, else from ``outputs/``, else from the repository's root): to
  an executed notebook, its page; to a markdown file of ``outputs/``, its page (staged in turn); to a run folder,
  the run's page; to any other file of ``outputs/`` or of the repository (up to 5 MB), a copy in the site (a
  download link); to something
  missing or too large, the text without a link, so the site has no broken link. Links with a scheme and in-page
  anchors are left as they are.
- Offline: no MathJax (no math syntax is parsed), no Thebe, Binder, widgets or comments (``report/_config.yml``).
- Atomic: built in a temporary folder, moved beside the report and swapped in at the end; a failed build leaves
  the previous report as it was.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from lib.analysis import glossary
from lib.core import paths

BOOK = paths.ROOT / "report"          # _config.yml, _toc.yml, _static/report.css
DESCRIPTION = (
    "This report reproduces, and tests the claims of, Modu, Prasad & Aliyu, *Development of a "
    "Knowledge-Distillation-Based Breast Cancer Classifier for LMICs: Comparison with Pruning and Quantization*, "
    "Electronics 14(24), 4842 (2025): a 748k-parameter 1-D CNN teacher distilled into a 518-parameter student, "
    "compared with pruning, post-training quantization and quantization-aware training, exported to TFLite for a "
    "Raspberry Pi 4B, on three datasets (WDBC, BCD, PBCNT). Every result is produced twice: with the authors' "
    "protocol (`paper`, run `wdbc-paper`) and without leakage, with repeated stratified k-fold, confidence "
    "intervals and paired tests (`rigorous`)."
)
# Runs in the order the book lists them; others follow alphabetically.
RUN_ORDER = ("wdbc", "bcd", "pbcnt", "wdbc-paper", "wdbc-to-bcd", "summary")
RUN_DESCRIPTIONS = {
    "wdbc-to-bcd": "Cross-dataset test: models trained on WDBC, evaluated on all of BCD (notebook 03b).",
    "summary": "Statistics across the runs and the cross-dataset test; the summary and the model card (notebook 08).",
}
FAST = "-fast"
FAST_NOTE = ("Fast profile (smoke test): few folds, few epochs. It shows that the pipeline runs; its numbers are "
             "not results.")
# Per full run, these figures go on the figures page (name -> caption); plus every PNG of outputs/summary/figures/.
RUN_KEY_FIGURES = {
    "06_pareto.png": "Accuracy, size and latency of every model and format: the Pareto front",
    "03_accuracy_per_split.png": "Test accuracy of teacher and students, split by split",
}
TRANSFER_FIGURE = ("wdbc-to-bcd", "03b_transfer_accuracy.png",
                   "Trained on WDBC, tested on BCD: accuracy of each model")
MAX_COPY_BYTES = 5 * 1024 * 1024
MISSING_SUMMARY = "outputs/summary.md not found: run make reproduce (notebook 08 writes it)."
MISSING_CARD = "outputs/model_card.md not found: notebook 08 writes it (run make reproduce)."
# The staged markdown files of outputs/ (their pages' names in the book).
MARKDOWN_PAGES = {"summary.md": "index", "model_card.md": "model_card", "summary-fast.md": "fast_summary"}
# What Sphinx reads as a document (MyST markdown, notebooks, reStructuredText).
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst")
# Names of the book's own pages and folders: a markdown file of outputs/ is not staged over one of them.
RESERVED = {"index", "model_card", "fast_summary", "figures", "glossary", "about", "fast", "repo", "_build", "_static"}


@dataclass
class Notebook:
    run: str
    name: str          # e.g. 01_data_exploration
    source: Path       # the executed .ipynb

    @property
    def doc(self) -> str:
        """Its page in the book (docname, from the book's root)."""
        return f"{self.run}/{self.name}"


@dataclass
class Run:
    name: str
    path: Path
    notebooks: list[Notebook] = field(default_factory=list)

    @property
    def smoke(self) -> bool:
        return self.name.endswith(FAST)


# --------------------------------------------------------------------------------------------- discovery
def _is_executed(p: Path) -> bool:
    n = p.name
    return p.is_file() and not n.endswith((".tmp.ipynb", ".failed.ipynb")) and n.count(".ipynb") == 1


def _run_key(name: str) -> tuple:
    base = name[: -len(FAST)] if name.endswith(FAST) else name
    rank = RUN_ORDER.index(base) if base in RUN_ORDER else len(RUN_ORDER)
    return (name.endswith(FAST), rank, base)


def discover(outputs: Path | None = None, runs: list[str] | None = None, exclude: tuple[Path, ...] = ()) -> list[Run]:
    """The runs under ``outputs`` with at least one executed notebook, in the book's order."""
    outputs = outputs or paths.outputs_root()
    excluded = {p.resolve() for p in exclude}
    found: list[Run] = []
    if outputs.is_dir():
        for d in outputs.iterdir():
            if not d.is_dir() or d.name.startswith((".", "_")) or d.resolve() in excluded:
                continue
            nbs = sorted(p for p in d.glob("[0-9]*.ipynb") if _is_executed(p))
            if nbs:
                found.append(Run(d.name, d, [Notebook(d.name, p.name[: -len(".ipynb")], p) for p in nbs]))
    if runs:
        names = {r.name for r in found}
        unknown = [r for r in runs if r not in names]
        if unknown:
            raise SystemExit(f"report: no executed notebooks for run(s) {', '.join(unknown)} under {outputs} "
                             f"(runs with notebooks: {', '.join(sorted(names)) or 'none'})")
        found = [r for r in found if r.name in runs]
    return sorted(found, key=lambda r: _run_key(r.name))


def run_description(name: str) -> str:
    """``description`` of params/<run>.yaml, else a fixed text for the runs without a params file."""
    f = paths.PARAMS / f"{name}.yaml"
    if f.is_file():
        m = re.search(r"^description:\s*(.+)$", f.read_text(encoding="utf-8"), re.M)
        if m:
            text = m.group(1).strip()
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
                text = text[1:-1]
            return text
    base = name[: -len(FAST)] if name.endswith(FAST) else name
    if base in RUN_DESCRIPTIONS:
        text = RUN_DESCRIPTIONS[base]
        return f"Fast profile (smoke test only: not results). {text}" if name.endswith(FAST) else text
    return ""


def _nb_label(name: str) -> tuple[str, str]:
    num, _, rest = name.partition("_")
    return num, rest.replace("_", " ")


_H1 = re.compile(r"\s*((?:#[ \t]+[^\n]*(?:\n|$))+)")


def _heading(source: str) -> tuple[str, int] | None:
    """The title a markdown cell opens with and where it ends: a first-level heading, with the following lines
    that are first-level headings too joined to it (a title written over two '# ' lines is one title, not two
    sections); None when the cell does not open with one."""
    m = _H1.match(source)
    if not m:
        return None
    return " ".join(line.lstrip("#").strip() for line in m.group(1).splitlines()), m.end()


def _notebook_title(nb: Path) -> str:
    """The title of the notebook (its first markdown cell's opening heading; '' without one)."""
    try:
        cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return ""
    for c in cells:
        if c.get("cell_type") == "markdown":
            h = _heading("".join(c.get("source", "")))
            return h[0] if h else ""
    return ""


# --------------------------------------------------------------------------------------------- staging
_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_CODE = re.compile(r"(`+)(?:.+?)\1")


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


class Stage:
    """Writes the book's sources into ``src``: the pages, the notebooks and the files they link to."""

    def __init__(self, outputs: Path, src: Path, runs: list[Run], report: Path):
        self.outputs, self.src, self.runs, self.report = outputs.resolve(), src, runs, report.resolve()
        self.pages = {nb.source.resolve(): nb.doc for r in runs for nb in r.notebooks}
        self.run_dirs = {r.path.resolve(): r.name for r in runs}
        # markdown files of outputs/ that are pages: the fixed ones, then any that a page links to
        self.md_docs = {(self.outputs / f).resolve(): doc for f, doc in MARKDOWN_PAGES.items()}
        self.children: dict[str, list[str]] = {}       # page -> the pages of outputs/ it links to, in order
        self.copied: dict[Path, str] = {}
        self._queue: list[tuple[Path, str]] = []
        self._page: tuple[str, Path] = ("index", self.outputs)

    # ---- files
    def copy(self, found: Path) -> str:
        """A file of outputs/ or of the repository into the sources; its path there (outputs' layout, repository
        files under ``repo/``)."""
        if found not in self.copied:
            rel = (found.relative_to(self.outputs).as_posix() if found.is_relative_to(self.outputs)
                   else "repo/" + found.relative_to(paths.ROOT).as_posix())
            dst = self.src / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found, dst)
            self.copied[found] = rel
        return self.copied[found]

    def _locate(self, target: str, base: Path) -> Path | None:
        """The file a link names: from the linking file's folder, else from outputs/ (as the summary's pages
        write them), else from the repository's root."""
        cands = [base / target, self.outputs / target]
        if target.startswith("outputs/"):
            cands.append(self.outputs / target[len("outputs/"):])
        cands.append(paths.ROOT / target)
        for c in cands:
            c = c.resolve()
            inside = c.is_relative_to(self.outputs) or c.is_relative_to(paths.ROOT)
            if inside and c.exists() and not c.is_relative_to(self.report):
                return c
        return None

    def md_doc(self, found: Path) -> str | None:
        """The page of a markdown file of outputs/ (staged when first linked), None for other files."""
        if found in self.md_docs:
            return self.md_docs[found] if found.is_file() else None
        if found.suffix != ".md" or not found.is_file() or not found.is_relative_to(self.outputs):
            return None
        doc = found.relative_to(self.outputs).with_suffix("").as_posix()
        if doc in RESERVED or doc.split("/")[0] in RESERVED:
            return None
        self.md_docs[found] = doc
        self._queue.append((found, doc))
        return doc

    @functools.cached_property
    def _glossary(self) -> str:
        return glossary.render_markdown()

    def is_glossary(self, found: Path) -> bool:
        """A summary's glossary page (notebook 08 writes one per profile) whose table is the book's own: its links
        go to the book's glossary page, so the book holds one. A run's own glossary, in its labels, stays a page."""
        return found.name == "glossary.md" and found.is_file() and found.read_text(encoding="utf-8") == self._glossary

    def resolve(self, url: str, image: bool = False) -> tuple[str, bool] | None:
        """The link's target in the book relative to the page being written, and whether it is a page of the book
        (else a file: a download or an image); None when it cannot be in the site."""
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            return url, False                                     # https:, mailto:, #anchor
        page, base = self._page
        found = self._locate(unquote(parts.path), base)
        if found is None:
            return None
        frag = f"#{parts.fragment}" if parts.fragment else ""
        target = None
        if not image:
            if found in self.pages:
                target = f"{self.pages[found]}.ipynb"
            elif self.is_glossary(found):
                target = "glossary.md"                            # one glossary page in the book
            elif (doc := self.md_doc(found)) is not None:
                target = f"{doc}.md"
                kids = self.children.setdefault(page, [])
                if doc != page and doc not in MARKDOWN_PAGES.values() and doc not in kids:
                    kids.append(doc)
            elif found in self.run_dirs:
                target, frag = f"{self.run_dirs[found]}/index.md", ""
        is_page = target is not None
        if target is None:
            if not found.is_file() or found.stat().st_size > MAX_COPY_BYTES:
                return None
            target, frag = self.copy(found), ("" if image else frag)
        return posixpath.relpath(target, posixpath.dirname(page) or ".") + frag, is_page

    # ---- markdown
    def rewrite(self, text: str, page: str, base: Path) -> str:
        """The markdown of a file of outputs/ (in folder ``base``) as page ``page``, its links and images resolved
        in the book (module docstring); a line holding only an image becomes a figure with the alt text as its
        caption."""
        self._page = (page, base)
        out, fence = [], None
        for line in text.splitlines():
            m = re.match(r"\s*(`{3,}|~{3,})", line)
            if fence is None and m:
                fence = m.group(1)
            elif fence is not None and line.strip().startswith(fence):
                fence = None
            if fence is not None or m:
                out.append(line)
                continue
            whole = _LINK.fullmatch(line.strip())
            if whole and whole.group(1):
                out.append(self._figure(whole.group(2), whole.group(3)))
                continue
            # links outside code spans only
            pieces, last = [], 0
            for c in _CODE.finditer(line):
                pieces.append(_LINK.sub(self._link, line[last:c.start()]))
                pieces.append(c.group(0))
                last = c.end()
            pieces.append(_LINK.sub(self._link, line[last:]))
            out.append("".join(pieces))
        return "\n".join(out) + "\n"

    def _link(self, m: re.Match) -> str:
        bang, text, url = m.group(1), m.group(2), m.group(3)
        found = self.resolve(url, image=bool(bang))
        if found is None:
            return f"*[{text}]*" if bang else text
        new, is_page = found
        parts = urlsplit(new)
        if not bang and not is_page and not parts.scheme and parts.path.endswith(SOURCE_SUFFIXES):
            # a markdown or notebook file that is no page of the book: a download, not a cross-reference
            plain = re.sub(r"[`<>]", "", text).strip() or posixpath.basename(parts.path)
            return f"{{download}}`{plain} <{parts.path}>`"
        return f"{bang}[{text}]({new})"

    def _figure(self, alt: str, url: str) -> str:
        found = self.resolve(url, image=True)
        if found is None:
            return f"*[{alt}]* (image not in the report: `{url}`)"
        return self.figure(found[0], alt, alt)

    @staticmethod
    def figure(path: str, alt: str, caption: str) -> str:
        """A MyST figure: the image at ``path`` (relative to its page), ``alt`` text and a markdown caption."""
        alt = " ".join(alt.split())
        return f"\n:::{{figure}} {path}\n:alt: {alt}\n\n{caption}\n:::\n"

    def markdown_page(self, source: Path, doc: str, missing: str | None = None) -> bool:
        """``source`` (a markdown file of outputs/) as page ``doc``, then every page of outputs/ it links to, and
        theirs; a notice when ``source`` is missing and ``missing`` says one."""
        if not source.is_file():
            if missing:
                title = {"index": "Summary", "model_card": "Model card"}.get(doc, doc)
                (self.src / f"{doc}.md").write_text(f"# {title}\n\n```{{note}}\n{missing}\n```\n", encoding="utf-8")
            return bool(missing)
        self._queue.append((source.resolve(), doc))
        while self._queue:
            f, d = self._queue.pop(0)
            dst = self.src / f"{d}.md"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(self.rewrite(f.read_text(encoding="utf-8"), d, f.parent), encoding="utf-8")
        return True

    # ---- notebooks and runs
    def notebook(self, nb: Notebook) -> None:
        """A copy of the executed notebook whose title (its opening heading, on one line) names the run, its
        figures with an alt text (fast profile: a warning first)."""
        node = json.loads(nb.source.read_text(encoding="utf-8"))
        cells = node.get("cells", [])
        for c in cells:
            if c.get("cell_type") == "markdown":
                src = "".join(c.get("source", ""))
                h = _heading(src)
                if h:
                    c["source"] = f"# {nb.run} · {h[0]}\n{src[h[1]:]}"
                break
        for c in cells:   # the figures' alt text (myst-nb's cell-level image options)
            if c.get("cell_type") == "code" and any(k.startswith("image/") for o in c.get("outputs", [])
                                                    for k in o.get("data", {})):
                c.setdefault("metadata", {}).setdefault("mystnb", {}).setdefault(
                    "image", {"alt": f"A figure of {nb.run} · {nb.name}"})
        if nb.run.endswith(FAST):
            cells.insert(0, {"cell_type": "markdown", "id": "kdstudy-fast-profile", "metadata": {},
                             "source": f"```{{warning}}\n{FAST_NOTE}\n```"})
        dst = self.src / nb.run / f"{nb.name}.ipynb"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(node, ensure_ascii=False, indent=1), encoding="utf-8")
        shutil.copystat(nb.source, dst)

    def run_page(self, run: Run) -> None:
        lines = [f"# {run.name}", ""]
        if run.smoke:
            lines += ["```{warning}", FAST_NOTE, "```", ""]
        desc = run_description(run.name)
        if desc:
            lines += [_md_escape(desc), ""]
        lines += ["Executed notebooks of this run, as `make reproduce` (papermill) executed them:", ""]
        for nb in run.notebooks:
            title = _notebook_title(nb.source) or nb.name
            lines.append(f"- [{_md_escape(title)}]({nb.name}.ipynb)")
        res = run.path / "results.csv"
        if res.is_file():
            rel = os.path.relpath(self.copy(res.resolve()), run.name)
            lines += ["", f"Its tidy results, one row per split x model x format (columns: the results contract, "
                          f"`docs/results.md`): [results.csv]({rel})."]
        (self.src / run.name).mkdir(parents=True, exist_ok=True)
        (self.src / run.name / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def runs_table(self, runs: list[Run]) -> list[str]:
        """A markdown table: one row per run, one column per notebook, each cell a link to its page."""
        cols = sorted({nb.name for r in runs for nb in r.notebooks})
        head = "| run | " + " | ".join(f"{n} {t}" for n, t in map(_nb_label, cols)) + " | data |"
        lines = [head, "|---" * (len(cols) + 2) + "|"]
        for r in runs:
            have = {nb.name: nb for nb in r.notebooks}
            cells = [f"[{_nb_label(c)[0]}]({have[c].doc}.ipynb)" if c in have else "–" for c in cols]
            res = r.path / "results.csv"
            data = f"[results.csv]({self.copy(res.resolve())})" if res.is_file() else "–"
            lines.append(f"| [{r.name}]({r.name}/index.md) | " + " | ".join(cells) + f" | {data} |")
        return lines

    def figures_page(self, filtered: bool) -> None:
        lines = ["# Key figures", "",
                 "The figures the summary rests on, as the notebooks drew them; the link under each opens the "
                 "notebook that drew it.", ""]
        figs = key_figures(self.runs, self.outputs, filtered)
        for run, png, caption, src in figs:
            rel = self.copy(png.resolve())
            origin = f" · drawn by [{src.name}]({src.doc}.ipynb)" if src else ""
            lines.append(self.figure(rel, f"{caption} ({run})", f"**{run}**: {caption}{origin}"))
        if not figs:
            lines += ["```{note}", "No key figures yet: run make reproduce.", "```"]
        (self.src / "figures.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def about_page(self) -> None:
        full = [r for r in self.runs if not r.smoke]
        n_nb = sum(len(r.notebooks) for r in self.runs)
        lines = ["# About this report", "", DESCRIPTION, "",
                 f"The site renders {n_nb} executed notebooks of {len(self.runs)} runs as `make reproduce` "
                 "(papermill) executed them, code shown; the summary, the model card and the figures come from "
                 "the same files of `outputs/`. It was built by `make report` (`lib/tools/book.py`, Jupyter Book) "
                 "and runs no notebook.", "", "## Runs and notebooks", ""]
        if full:
            lines += ["One row per run, one column per notebook: each link opens the executed notebook. `data`: the "
                      "run's tidy results (`results.csv`, columns in `docs/results.md`).", ""]
            lines += self.runs_table(full)
        else:
            lines += ["```{note}", "No executed notebooks of the full runs under outputs/: run make reproduce.", "```"]
        csv = self.outputs / "summary.csv"
        if csv.is_file():
            rel = self.copy(csv.resolve())
            lines += ["", f"Every run, model, format and metric with its intervals: [summary.csv]({rel})."]
        if any(r.smoke for r in self.runs):
            lines += ["", "The fast profile (a smoke test) has its own part: [Fast profile](fast.md)."]
        (self.src / "about.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def fast_page(self, smoke: list[Run], has_summary: bool) -> None:
        lines = ["# Fast profile (smoke test)", "", "```{warning}", FAST_NOTE, "```", "",
                 "The fast profile (`params/*-fast.yaml`: few folds, few epochs, small grids) is what `make test` "
                 "re-executes and checks. Its runs and their executed notebooks:", ""]
        lines += self.runs_table(smoke)
        if has_summary:
            lines += ["", "Its summary, as notebook 08 wrote it for the fast profile: "
                          "[fast-profile summary](fast_summary.md)."]
        (self.src / "fast.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def toc(self, has_fast_summary: bool) -> dict:
        """report/_toc.yml with the pages the summary links to (a part of their own), the model card's, a part
        for the full runs and one for the fast profile."""
        toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
        placed = set(MARKDOWN_PAGES.values())

        def entry(doc: str, title: str | None = None, prefix: str = "") -> dict:
            # prefix: the fast profile's pages carry the full ones' headings; the navigation tells them apart
            placed.add(doc)
            page = self.src / f"{doc}.md"
            if prefix and title is None and page.is_file() and (h := _heading(page.read_text(encoding="utf-8"))):
                title = prefix + h[0]
            e = {"file": doc} | ({"title": title} if title else {})
            kids = [entry(k, prefix=prefix) for k in self.children.get(doc, []) if k not in placed]
            return e | ({"sections": kids} if kids else {})

        def chapter(r: Run) -> dict:
            return {"file": f"{r.name}/index",
                    "sections": [entry(nb.doc, _notebook_title(nb.source) or nb.name) for nb in r.notebooks]}

        detail = [entry(k) for k in self.children.get("index", []) if k not in placed]
        if detail:
            toc["parts"].insert(0, {"caption": "The summary in detail", "chapters": detail})
        for part in toc["parts"]:           # the fixed pages, with the pages of outputs/ they link to
            part["chapters"] = [c | entry(c["file"]) for c in part["chapters"]]
        full = [r for r in self.runs if not r.smoke]
        smoke = [r for r in self.runs if r.smoke]
        if full:
            toc["parts"].append({"caption": "Notebooks of the full runs", "chapters": [chapter(r) for r in full]})
        if smoke:
            first = {"file": "fast"}
            if has_fast_summary:
                first["sections"] = [entry("fast_summary", prefix="Fast profile: ")]
            toc["parts"].append({"caption": "Fast profile (smoke test, not results)",
                                 "chapters": [first] + [chapter(r) for r in smoke]})
        leftover = [entry(d) for d in self.md_docs.values() if d not in placed and (self.src / f"{d}.md").is_file()]
        if leftover:                    # linked only from pages placed elsewhere
            toc["parts"].append({"caption": "Other pages of outputs/", "chapters": leftover})
        return toc


def key_figures(runs: list[Run], outputs: Path, filtered: bool = False) -> list[tuple[str, Path, str, Notebook | None]]:
    """(run, png, caption, notebook that drew it): every PNG of outputs/summary/figures/, then per full run the
    Pareto front and the accuracy per split, then the cross-dataset transfer figure. ``filtered`` (--runs): only
    the figures of the runs asked for."""
    by_name = {r.name: r for r in runs}
    selected = lambda name: name in by_name or not filtered  # noqa: E731
    figs: list[tuple[str, Path, str, Notebook | None]] = []
    if selected("summary"):
        for p in sorted((outputs / "summary" / "figures").glob("*.png")):
            caption = _nb_label(p.stem)[1].capitalize() if "_" in p.stem else p.stem
            figs.append(("summary", p, caption, _figure_source(by_name.get("summary"), p)))
    for fname, caption in RUN_KEY_FIGURES.items():
        for r in runs:
            if r.smoke or r.name in ("summary", TRANSFER_FIGURE[0]):
                continue
            p = r.path / "figures" / fname
            if p.is_file():
                figs.append((r.name, p, caption, _figure_source(r, p)))
    run, fname, caption = TRANSFER_FIGURE
    p = outputs / run / "figures" / fname
    if selected(run) and p.is_file():
        figs.append((run, p, caption, _figure_source(by_name.get(run), p)))
    return figs


def _figure_source(run: Run | None, png: Path) -> Notebook | None:
    if run is None:
        return None
    prefix = png.name.split("_")[0]
    for nb in run.notebooks:
        if nb.name.split("_")[0] == prefix:
            return nb
    return run.notebooks[0] if len(run.notebooks) == 1 else None


def stage(src: Path, runs: list[Run], outputs: Path, report: Path, filtered: bool = False) -> Path:
    """Write the book's sources into ``src`` (config, table of contents, pages, notebooks); returns ``src``."""
    src.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BOOK / "_config.yml", src / "_config.yml")
    if (BOOK / "_static").is_dir():     # report.css: wide tables fit the page
        shutil.copytree(BOOK / "_static", src / "_static", dirs_exist_ok=True)
    st = Stage(outputs, src, runs, report)
    for r in runs:                      # notebooks first: the markdown pages link to them
        for nb in r.notebooks:
            st.notebook(nb)
    smoke = [r for r in runs if r.smoke]
    if not smoke:                       # no fast profile part: its summary is a plain file
        st.md_docs.pop((outputs / "summary-fast.md").resolve(), None)
    st.markdown_page(outputs / "summary.md", "index", MISSING_SUMMARY)
    st.markdown_page(outputs / "model_card.md", "model_card", MISSING_CARD)
    fast_summary = bool(smoke) and st.markdown_page(outputs / "summary-fast.md", "fast_summary")
    (src / "glossary.md").write_text(
        glossary.render_markdown() + "\nModel names as in the `model` column of `results.csv` (`docs/results.md`), "
        "then the terms of the summary and the model card. One table, `lib/analysis/glossary.py`, for every "
        "document that needs it.\n", encoding="utf-8")
    st.figures_page(filtered)
    st.about_page()
    for r in runs:
        st.run_page(r)
    if smoke:
        st.fast_page(smoke, fast_summary)
    (src / "_toc.yml").write_text(yaml.safe_dump(st.toc(fast_summary), sort_keys=False, allow_unicode=True, width=10_000),
                                  encoding="utf-8")
    return src


# --------------------------------------------------------------------------------------------- build
_JB = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"


def build(out_dir: str | os.PathLike | None = None, runs: list[str] | None = None,
          warnings: list[str] | None = None) -> Path:
    """Build the book into ``out_dir`` (default ``outputs/report``); returns the path of its index.html. The build's
    warnings are printed, and appended to ``warnings`` when given."""
    outputs = paths.outputs_root()
    report = paths.resolve(out_dir) if out_dir else outputs / "report"
    found = discover(outputs, runs, exclude=(report,))
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="kdstudy-book-"))
    report.parent.mkdir(parents=True, exist_ok=True)
    new = None
    try:
        src = stage(work / "src", found, outputs, report, filtered=bool(runs))
        cmd = [sys.executable, "-c", _JB, "build", str(src), "--path-output", str(work), "--builder", "html"]
        proc = subprocess.run(cmd, cwd=work, text=True, capture_output=True)
        log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)   # Sphinx colours its warnings
        (work / "build.log").write_text(log, encoding="utf-8")
        html = work / "_build" / "html"
        if proc.returncode != 0 or not (html / "index.html").is_file():
            raise RuntimeError(f"report: jupyter-book build failed (exit {proc.returncode}); the previous report "
                               f"is kept. Its output:\n{log[-6000:]}")
        found_warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        for line in found_warnings:
            print(f"report: {line}", file=sys.stderr)
        if warnings is not None:
            warnings.extend(found_warnings)
        for leftover in (".buildinfo", "_sources"):
            p = html / leftover
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        # beside the report, so the swap is two renames on one file system
        new = Path(tempfile.mkdtemp(prefix=f".{report.name}.new-", dir=report.parent))
        new.rmdir()
        shutil.move(str(html), str(new))
        new.chmod(0o755)
        _swap(new, report)
        new = None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if new is not None:
            shutil.rmtree(new, ignore_errors=True)
    size = sum(f.stat().st_size for f in report.rglob("*") if f.is_file())
    n_nb = sum(len(r.notebooks) for r in found)
    print(f"report: {report / 'index.html'} ({n_nb} notebooks of {len(found)} runs, {len(found_warnings)} warnings, "
          f"{size / 2**20:.1f} MB, {time.perf_counter() - t0:.1f} s)", flush=True)
    return report / "index.html"


def _swap(new: Path, report: Path) -> None:
    """Put ``new`` in place of ``report`` (two renames; the old report is deleted after)."""
    old = None
    if report.exists():
        old = report.with_name(f".{report.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(report, old)
    os.replace(new, report)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.tools.book", description="Build the study's report (Jupyter "
                                 "Book) from outputs/ into outputs/report/.")
    ap.add_argument("--runs", nargs="+", metavar="RUN", help="only these runs (default: every run with notebooks)")
    ap.add_argument("--out", metavar="DIR", help="report folder (default: outputs/report; a relative path is "
                    "taken from the repository root)")
    args = ap.parse_args(argv)
    build(args.out, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
