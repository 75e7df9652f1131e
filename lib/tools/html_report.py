"""The study as a static HTML report: every executed notebook and an index page, under ``outputs/report/``.

``make report`` (or ``python -m lib.tools.html_report [--runs r1 r2 ...] [--out DIR]``) renders what is in ``outputs/``; it
never runs a notebook (``make reproduce report`` does both). The folder is self-contained: relative links only,
images embedded or copied next to the index, no script or style from the network (nbconvert's lab template
loads require.js, MathJax and mermaid from CDNs; the template below drops them; no notebook of the study
uses math, widgets or mermaid), so it can be zipped and opened anywhere, offline.

- Runs are the folders ``outputs/<run>/`` holding executed notebooks ``[0-9]*.ipynb`` (papermill's
  ``*.tmp.ipynb`` / ``*.failed.ipynb`` are skipped): the full runs, the cross-dataset run ``wdbc-to-bcd`` (03b),
  ``summary`` (08, statistics across runs) and their ``-fast`` smoke-test variants, listed apart on the index.
- Each notebook becomes ``<report>/<run>/<notebook>.html`` (nbconvert's HTMLExporter, lab template, code shown,
  title "run · notebook", a bar linking back to the index). A page is re-rendered only when its ``.ipynb`` is
  newer than the previous page or the page was made by another version of this template.
- The index: title, description, ``outputs/summary.md`` and ``outputs/model_card.md`` rendered from markdown
  (a notice when missing), the key figures (copied to ``<report>/figures/<run>/``) and a runs x notebooks table.
- Links in the markdown files: a link to an executed notebook points at its rendered page; a link to a run
  folder at the run's row; a link to any other file of ``outputs/`` or of the repository (up to 5 MB) at a copy
  under ``<report>/files/`` (``files/<run>/...`` for outputs, ``files/repo/...`` for repository files); a link
  to something missing or too large keeps its text and loses its link (with the target in a tooltip), so the
  report has no broken link. Links with a scheme (``https:``) and in-page anchors are left as they are.
- Atomic: built in a temporary folder beside the report, swapped in at the end; a failed build leaves the
  previous report as it was (pages still up to date are hard-linked from it, not re-rendered).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import jinja2
import mistune

from lib.core import paths

TITLE = "Knowledge distillation for breast-cancer classification in LMICs: a reproducible re-study"
DESCRIPTION = (
    "This report reproduces, and tests the claims of, Modu, Prasad &amp; Aliyu, <i>Development of a "
    "Knowledge-Distillation-Based Breast Cancer Classifier for LMICs: Comparison with Pruning and Quantization</i>, "
    "Electronics 14(24), 4842 (2025): a 748k-parameter 1-D CNN teacher distilled into a 518-parameter student, "
    "compared with pruning, post-training quantization and quantization-aware training, exported to TFLite for a "
    "Raspberry Pi 4B, on three datasets (WDBC, BCD, PBCNT). Every result is produced twice: with the authors' "
    "protocol (<code>paper</code>, run <code>wdbc-paper</code>) and without leakage, with repeated stratified "
    "k-fold, confidence intervals and paired tests (<code>rigorous</code>)."
)
# Runs in the order the index lists them; others follow alphabetically.
RUN_ORDER = ("wdbc", "bcd", "pbcnt", "wdbc-paper", "wdbc-to-bcd", "summary")
RUN_DESCRIPTIONS = {
    "wdbc-to-bcd": "Cross-dataset test: models trained on WDBC, evaluated on all of BCD (notebook 03b).",
    "summary": "Statistics across the runs, the cross-dataset test and the reviewer's report (notebook 08).",
}
FAST = "-fast"
# Per full run, these figures go on the index (name -> caption); plus every PNG of outputs/summary/figures/.
RUN_KEY_FIGURES = {
    "06_pareto.png": "Accuracy, size and latency of every model and format: the Pareto front",
    "03_accuracy_per_split.png": "Test accuracy of teacher and students, split by split",
}
TRANSFER_FIGURE = ("wdbc-to-bcd", "03b_transfer_accuracy.png",
                   "Trained on WDBC, tested on BCD: accuracy of each model")
MAX_COPY_BYTES = 5 * 1024 * 1024
MISSING_SUMMARY = "outputs/summary.md not found: run make reproduce (notebook 08 writes it)."

# Notebook pages: nbconvert's lab template without the CDN scripts, with a bar back to the index.
NB_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}
<meta name="kdstudy-report" content="{{ resources.kdreport.signature }}">
{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
.kd-bar { position: sticky; top: 0; z-index: 100; display: flex; gap: 1.2em; align-items: baseline;
  padding: 8px 16px; margin: 0 0 12px; background: #1f3a5f; color: #e8eef6;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.kd-bar a { color: #fff; text-decoration: none; font-weight: 600; }
.kd-bar a:hover { text-decoration: underline; }
.kd-bar .kd-title { margin-left: auto; opacity: .85; }
.kd-smoke { background: #7a4b00; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
<nav class="kd-bar{{ ' kd-smoke' if resources.kdreport.smoke else '' }}">
  <a href="../index.html">&larr; Report index</a>
  <a href="../index.html#run-{{ resources.kdreport.run }}">run {{ resources.kdreport.run }}</a>
  {%- if resources.kdreport.smoke %}<span>smoke-test run: not results</span>{% endif %}
  <span class="kd-title">{{ resources.kdreport.notebook }}</span>
</nav>
{%- endblock body_header -%}
"""
# Bump to force every page to be re-rendered (the template text and nbconvert's version count too).
RENDER_VERSION = "2"

INDEX_CSS = """
:root { --fg: #1d232b; --muted: #5b6573; --line: #d9dee5; --bg: #fff; --band: #f5f7fa; --accent: #1f3a5f;
  --link: #1a5fb4; --warn-bg: #fff4e0; --warn-line: #e0a030; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background: var(--accent); color: #fff; padding: 28px 0 22px; }
header.top h1 { margin: 0 0 6px; font-size: 1.65em; line-height: 1.25; }
header.top p { margin: 0; color: #d6e0ec; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
nav.toc { background: var(--band); border-bottom: 1px solid var(--line); padding: 8px 0; font-size: .95em; }
nav.toc a { margin-right: 1.4em; }
a { color: var(--link); }
section { padding: 8px 0 18px; border-bottom: 1px solid var(--line); }
h2 { font-size: 1.35em; margin: 26px 0 10px; }
h3 { font-size: 1.15em; } h4, h5, h6 { font-size: 1em; }
p.lead { font-size: 1.02em; max-width: 75em; }
.muted { color: var(--muted); font-size: .92em; }
.notice { background: var(--warn-bg); border-left: 4px solid var(--warn-line); padding: 10px 14px; margin: 10px 0; }
.md table, table.runs { border-collapse: collapse; margin: 10px 0 16px; font-size: .92em; }
.md th, .md td, table.runs th, table.runs td { border: 1px solid var(--line); padding: 5px 9px; vertical-align: top; }
.md thead th, table.runs thead th { background: var(--band); }
.md tbody tr:nth-child(even), table.runs tbody tr:nth-child(even) { background: #fafbfc; }
.md code, code { background: var(--band); padding: 0 3px; border-radius: 3px; font-size: .92em; }
.md pre { background: var(--band); padding: 10px; overflow-x: auto; }
.scroll { overflow-x: auto; }
.unlinked { border-bottom: 1px dotted var(--muted); cursor: help; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 18px; margin: 12px 0; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px; background: #fff; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; width: 100%; max-width: max-content; height: auto; margin: 0 auto; }
figcaption { margin-top: 8px; font-size: .9em; color: var(--muted); }
figcaption b { color: var(--fg); }
table.runs td.nb { text-align: center; white-space: nowrap; }
table.runs th.nb { font-weight: 600; min-width: 5.5em; }
table.runs th.nb small { display: block; font-weight: 400; color: var(--muted); }
table.runs td.run b { font-size: 1.02em; }
table.runs td.run .muted { display: block; max-width: 34em; }
.smoke h2 { color: #7a4b00; }
details summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
footer { padding: 16px 0 40px; color: var(--muted); font-size: .88em; }
"""


@dataclass
class Notebook:
    run: str
    name: str          # e.g. 01_data_exploration
    source: Path       # the executed .ipynb

    @property
    def href(self) -> str:
        """Relative to the report root."""
        return f"{quote(self.run)}/{quote(self.name)}.html"


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
    """The runs under ``outputs`` with at least one executed notebook, in index order."""
    outputs = outputs or paths.outputs_root()
    excluded = {p.resolve() for p in exclude}
    found: list[Run] = []
    if outputs.is_dir():
        for d in outputs.iterdir():
            if not d.is_dir() or d.name.startswith(".") or d.resolve() in excluded:
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


# --------------------------------------------------------------------------------------------- notebooks
def _exporter():
    # nbconvert and nbformat on use: they take seconds to import, and a report whose pages are up to date needs neither
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", theme="light",
                            extra_loaders=[jinja2.DictLoader({"kdreport.html.j2": NB_TEMPLATE})],
                            template_file="kdreport.html.j2")
    # Output figures have no alt text: nbconvert adds a generic one and warns per notebook; we replace it.
    exporter.log.addFilter(lambda rec: "Alternative text is missing" not in rec.getMessage())
    return exporter


def _signature() -> str:
    text = "\n".join([RENDER_VERSION, version("nbconvert"), NB_TEMPLATE])  # its version without importing it
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _up_to_date(page: Path, nb: Notebook, signature: str) -> bool:
    try:
        if page.stat().st_mtime < nb.source.stat().st_mtime:
            return False
        with page.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        return False
    # nbconvert may reorder the meta tag's attributes: look for both.
    return b'name="kdstudy-report"' in head and f'content="{signature}"'.encode() in head


def render_notebook(nb: Notebook, dest: Path, exporter, signature: str) -> None:
    import nbformat  # on use: see _exporter

    node = nbformat.read(nb.source, as_version=4)
    resources = {"metadata": {"name": f"{nb.run} · {nb.name}"},
                 "kdreport": {"signature": signature, "run": nb.run, "notebook": nb.name,
                              "smoke": nb.run.endswith(FAST)}}
    body, _ = exporter.from_notebook_node(node, resources=resources)
    body = body.replace('alt="No description has been provided for this image"',
                        f'alt="{html.escape(f"A figure of {nb.run} · {nb.name}")}"')
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")


def _link_or_copy(src: Path, dst: Path) -> None:
    """Reuse a page of the previous report (ours: never written in place, so a hard link is safe)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy(src: Path, dst: Path) -> None:
    """A file of outputs/ into the report: a real copy (a notebook may rewrite the original in place)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


# --------------------------------------------------------------------------------------------- markdown
class _Links:
    """Rewrites the links of a markdown file rendered into the index (see the module docstring)."""

    def __init__(self, outputs: Path, base: Path, report: Path, runs: list[Run]):
        self.outputs, self.base, self.report = outputs.resolve(), base.resolve(), report
        self.pages = {nb.source.resolve(): nb.href for r in runs for nb in r.notebooks}
        self.run_dirs = {r.path.resolve(): r.name for r in runs}

    def _locate(self, target: str) -> Path | None:
        cands = [self.base / target]
        if target.startswith("outputs/"):
            cands.append(self.outputs / target[len("outputs/"):])
        cands.append(paths.ROOT / target)
        for c in cands:
            c = c.resolve()
            inside = c.is_relative_to(self.outputs) or c.is_relative_to(paths.ROOT)
            if inside and c.exists() and not c.is_relative_to(self.report):
                return c
        return None

    def resolve(self, url: str, image: bool = False) -> str | None:
        """The rewritten URL, or None when the target cannot be in the report."""
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            return url                                           # https:, mailto:, data:, #anchor
        found = self._locate(unquote(parts.path))
        if found is None:
            return None
        frag = f"#{parts.fragment}" if parts.fragment else ""
        if not image and found in self.pages:
            return self.pages[found] + frag
        if not image and found in self.run_dirs:
            return f"index.html#run-{quote(self.run_dirs[found])}"
        if not found.is_file() or found.stat().st_size > MAX_COPY_BYTES:
            return None
        rel = (found.relative_to(self.outputs).as_posix() if found.is_relative_to(self.outputs)
               else "repo/" + found.relative_to(paths.ROOT).as_posix())
        dst = self.report / "files" / rel
        if not dst.exists():
            _copy(found, dst)
        return "files/" + quote(rel) + frag

    def rewrite(self, body: str) -> str:
        def anchor(m: re.Match) -> str:
            attrs, inner = m.group(1), m.group(2)
            h = re.search(r"""\bhref\s*=\s*(["'])(.*?)\1""", attrs, re.S)
            if not h:
                return m.group(0)
            new = self.resolve(html.unescape(h.group(2)))
            if new is None:
                tip = html.escape(f"not in the report: {html.unescape(h.group(2))}")
                return f'<span class="unlinked" title="{tip}">{inner}</span>'
            attrs = attrs[: h.start()] + f'href="{html.escape(new)}"' + attrs[h.end():]
            return f"<a{attrs}>{inner}</a>"

        def img(m: re.Match) -> str:
            tag = m.group(0)
            s = re.search(r"""\bsrc\s*=\s*(["'])(.*?)\1""", tag, re.S)
            if not s:
                return tag
            new = self.resolve(html.unescape(s.group(2)), image=True)
            if new is None:
                alt = re.search(r"""\balt\s*=\s*(["'])(.*?)\1""", tag, re.S)
                text = alt.group(2) if alt else html.escape(s.group(2))
                tip = html.escape(f"image not in the report: {html.unescape(s.group(2))}")
                return f'<span class="unlinked" title="{tip}">[{text}]</span>'
            return tag[: s.start()] + f'src="{html.escape(new)}"' + tag[s.end():]

        body = re.sub(r"<a\b([^>]*)>(.*?)</a>", anchor, body, flags=re.S | re.I)
        return re.sub(r"<img\b[^>]*>", img, body, flags=re.S | re.I)


def render_markdown(path: Path, links: _Links, section: str = "") -> str:
    """The markdown file as HTML for the index; a leading heading that repeats ``section`` is dropped."""
    md = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])
    body = md(path.read_text(encoding="utf-8")).strip()
    first = re.match(r"<h[1-6][^>]*>(.*?)</h[1-6]>\s*", body, re.S)
    if first and section and re.sub(r"<[^>]+>", "", first.group(1)).strip().lower().startswith(section.lower()):
        body = body[first.end():]
    # The index has its own h1/h2: the file's headings go two levels down.
    body = re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 2, 6)}", body)
    body = re.sub(r"<table>", '<div class="scroll"><table>', body)
    body = body.replace("</table>", "</table></div>")
    return f'<div class="md">{links.rewrite(body)}</div>'


# --------------------------------------------------------------------------------------------- index
def _esc(s: str) -> str:
    return html.escape(s, quote=True)


def _nb_label(name: str) -> tuple[str, str]:
    num, _, rest = name.partition("_")
    return num, rest.replace("_", " ")


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


def _png_size(png: Path) -> tuple[int, int]:
    """(width, height) from the PNG header; (0, 0) if it is not a PNG."""
    with png.open("rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _figure_source(run: Run | None, png: Path) -> Notebook | None:
    if run is None:
        return None
    prefix = png.name.split("_")[0]
    for nb in run.notebooks:
        if nb.name.split("_")[0] == prefix:
            return nb
    return run.notebooks[0] if len(run.notebooks) == 1 else None


def _runs_table(runs: list[Run], report: Path, outputs: Path) -> str:
    cols = sorted({nb.name for r in runs for nb in r.notebooks})
    head = "".join(f'<th class="nb">{_esc(n)}<small>{_esc(t)}</small></th>' for n, t in map(_nb_label, cols))
    rows = []
    for r in runs:
        have = {nb.name: nb for nb in r.notebooks}
        cells = []
        for c in cols:
            nb = have.get(c)
            cells.append(f'<td class="nb"><a href="{nb.href}" title="{_esc(r.name)} · {_esc(c)}">'
                         f'{_esc(_nb_label(c)[0])}</a></td>' if nb else '<td class="nb muted">&ndash;</td>')
        res = r.path / "results.csv"
        if res.is_file():
            _copy(res, report / "files" / r.name / "results.csv")
            cells.append(f'<td class="nb"><a href="files/{quote(r.name)}/results.csv">results.csv</a></td>')
        else:
            cells.append('<td class="nb muted">&ndash;</td>')
        desc = run_description(r.name)
        rows.append(f'<tr id="run-{_esc(r.name)}"><td class="run"><b>{_esc(r.name)}</b>'
                    f'{f"<span class=muted>{_esc(desc)}</span>" if desc else ""}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="runs"><thead><tr><th>run</th>{head}<th class="nb">data</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def _md_section(path: Path, links: _Links, missing: str | None, section: str) -> str:
    if path.is_file():
        return render_markdown(path, links, section)
    return f'<p class="notice">{_esc(missing)}</p>' if missing else ""


def write_index(report: Path, runs: list[Run], outputs: Path, filtered: bool = False) -> Path:
    full = [r for r in runs if not r.smoke]
    smoke = [r for r in runs if r.smoke]
    links = _Links(outputs, outputs, report, runs)

    summary = _md_section(outputs / "summary.md", links, MISSING_SUMMARY, "summary")
    if (outputs / "summary.csv").is_file():
        _copy(outputs / "summary.csv", report / "files" / "summary.csv")
        summary += '<p class="muted">The same numbers as CSV: <a href="files/summary.csv">summary.csv</a>.</p>'
    card = _md_section(outputs / "model_card.md", links,
                       "outputs/model_card.md not found: notebook 08 writes it (run make reproduce).", "model card")

    figs = []
    for run, png, caption, src in key_figures(runs, outputs, filtered):
        rel = f"figures/{quote(run)}/{quote(png.name)}"
        _copy(png, report / "figures" / run / png.name)
        origin = f' &middot; <a href="{src.href}">{_esc(src.name)}</a>' if src else ""
        w, h = _png_size(png)
        wide = ' class="wide"' if h and w / h >= 2 else ""        # multi-panel figures: the full width
        figs.append(f'<figure{wide}><a href="{rel}"><img src="{rel}" alt="{_esc(caption)} ({_esc(run)})"'
                    f'></a><figcaption><b>{_esc(run)}</b>: {_esc(caption)}{origin}'
                    f'</figcaption></figure>')
    figures = (f'<div class="figs">{"".join(figs)}</div>' if figs else
               '<p class="notice">No key figures yet: run make reproduce.</p>')

    if full:
        notebooks = _runs_table(full, report, outputs)
    else:
        notebooks = '<p class="notice">No executed notebooks of the full runs under outputs/: run make reproduce.</p>'
    smoke_html = ""
    if smoke:
        smoke_md = ""
        if (outputs / "summary-fast.md").is_file():
            smoke_md = ("<details><summary>Summary of the fast profile (smoke test)</summary>"
                        f"{render_markdown(outputs / 'summary-fast.md', links, 'summary')}</details>")
        smoke_html = (
            '<section id="smoke" class="smoke"><h2>Smoke-test runs (not results)</h2>'
            '<p class="muted">The fast profile (<code>params/*-fast.yaml</code>: few folds, few epochs) that '
            '<code>make test</code> checks. It shows that the pipeline runs end to end; its numbers are not '
            f'results and are not discussed.</p>{_runs_table(smoke, report, outputs)}{smoke_md}</section>')

    n_nb = sum(len(r.notebooks) for r in runs)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = ['<a href="#summary">Summary</a>', '<a href="#model-card">Model card</a>',
           '<a href="#figures">Key figures</a>', '<a href="#notebooks">Notebooks</a>']
    if smoke:
        toc.append('<a href="#smoke">Smoke-test runs</a>')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(TITLE)}</title>
<style>{INDEX_CSS}</style>
</head>
<body>
<header class="top"><div class="wrap"><h1>{_esc(TITLE)}</h1>
<p>Static report of the executed notebooks ({n_nb} notebooks, {len(runs)} runs).</p></div></header>
<nav class="toc"><div class="wrap">{"".join(toc)}</div></nav>
<main class="wrap">
<section id="about"><p class="lead">{DESCRIPTION}</p>
<p class="muted">Each notebook page shows its code and outputs as executed by <code>make reproduce</code>
(papermill); the numbers below come from the same files.</p></section>
<section id="summary"><h2>Summary</h2>{summary}</section>
<section id="model-card"><h2>Model card</h2>{card}</section>
<section id="figures"><h2>Key figures</h2>
<p class="muted">Click a figure for full size; the link under it opens the notebook that drew it.</p>{figures}</section>
<section id="notebooks"><h2>Notebooks</h2>
<p class="muted">One row per run, one column per notebook: each link opens the executed notebook.
<code>data</code>: the run's tidy results (<code>results.csv</code>, columns in <code>docs/results.md</code>).</p>
{notebooks}</section>
{smoke_html}
</main>
<footer><div class="wrap">Built by <code>make report</code> (<code>lib/tools/html_report.py</code>) on {stamp}. Self-contained:
relative links only, no network needed; zip the folder to share it.</div></footer>
</body>
</html>
"""
    index = report / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


# --------------------------------------------------------------------------------------------- build
def build(out_dir: str | os.PathLike | None = None, runs: list[str] | None = None) -> Path:
    """Render the report into ``out_dir`` (default ``outputs/report``); returns the path of its index.html."""
    outputs = paths.outputs_root()
    report = paths.resolve(out_dir) if out_dir else outputs / "report"
    found = discover(outputs, runs, exclude=(report,))
    report.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{report.name}.build-", dir=report.parent))
    t0 = time.perf_counter()
    rendered = reused = 0
    try:
        signature = _signature()
        exporter = None
        for run in found:
            for nb in run.notebooks:
                rel = Path(run.name) / f"{nb.name}.html"
                old, new = report / rel, tmp / rel
                if _up_to_date(old, nb, signature):
                    _link_or_copy(old, new)
                    reused += 1
                    print(f"report: {run.name}/{nb.name}: up to date", flush=True)
                    continue
                t = time.perf_counter()
                exporter = exporter or _exporter()
                render_notebook(nb, new, exporter, signature)
                rendered += 1
                print(f"report: {run.name}/{nb.name}: rendered ({time.perf_counter() - t:.1f} s)", flush=True)
        write_index(tmp, found, outputs, filtered=bool(runs))
        tmp.chmod(0o755)
        _swap(tmp, report)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in report.rglob("*") if f.is_file())
    print(f"report: {report / 'index.html'} ({rendered} rendered, {reused} up to date, "
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
    ap = argparse.ArgumentParser(prog="python -m lib.tools.html_report", description=__doc__.split("\n\n")[0].replace("``", ""))
    ap.add_argument("--runs", nargs="+", metavar="RUN", help="only these runs (default: every run with notebooks)")
    ap.add_argument("--out", metavar="DIR", help="report folder (default: outputs/report; a relative path is "
                    "taken from the repository root)")
    args = ap.parse_args(argv)
    build(args.out, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
