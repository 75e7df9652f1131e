"""`make report` (lib/tools/html_report.py): the static HTML report, built from a small fixture outputs tree.

The structure tests read the files; the browser test opens the index in Debian's headless Chromium (driven by
Playwright, no browser download) and checks that it renders with its figures, that every local link leads to a
page that loads, and that nothing is fetched from the network. Without Chromium the browser test is skipped,
except in CI (CI set), where .ci/run must have installed it.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from lib.tools import html_report

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "outputs" / "wdbc-fast"
NOTEBOOKS = ("01_data_exploration", "06_tflite_export")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SUMMARY_MD = """# Summary

Fixture summary (not a result).

| run | model | accuracy |
|---|---|--:|
| wdbc | SM | 0.951 |
| wdbc | TM | 0.962 |

Numbers per split: [results.csv](outputs/wdbc/results.csv); how they were made:
[notebook 06](wdbc/06_tflite_export.ipynb); the contract: [docs](docs/results.md);
[a file that does not exist](outputs/wdbc/nope.csv).
"""
MODEL_CARD_MD = "# Model card\n\nStudent **SM-fixture**: 518 parameters, int8, 2.7 kB.\n"


def make_tree(out: Path, summary: bool = True) -> Path:
    """outputs/ with a full run `wdbc` (two notebooks of wdbc-fast, their figures, results.csv), a smoke-test run
    `wdbc-fast` (notebook 01), papermill leftovers to skip, the summary figures and markdown files."""
    (out / "wdbc" / "figures").mkdir(parents=True)
    for nb in NOTEBOOKS:
        shutil.copy2(SRC / f"{nb}.ipynb", out / "wdbc" / f"{nb}.ipynb")
        for png in (SRC / "figures").glob(f"{nb[:2]}_*.png"):
            shutil.copy2(png, out / "wdbc" / "figures" / png.name)
    shutil.copy2(SRC / "figures" / "03_accuracy_per_split.png", out / "wdbc" / "figures")
    shutil.copy2(SRC / "results.csv", out / "wdbc" / "results.csv")
    # papermill's temporaries and failed runs are not executed notebooks
    shutil.copy2(SRC / "01_data_exploration.ipynb", out / "wdbc" / "02_teacher.ipynb.tmp.ipynb")
    shutil.copy2(SRC / "01_data_exploration.ipynb", out / "wdbc" / "03_distillation.ipynb.failed.ipynb")
    (out / "wdbc-fast").mkdir()
    shutil.copy2(SRC / "01_data_exploration.ipynb", out / "wdbc-fast" / "01_data_exploration.ipynb")
    (out / "summary" / "figures").mkdir(parents=True)
    shutil.copy2(SRC / "figures" / "01_class_balance.png", out / "summary" / "figures" / "x.png")
    if summary:
        (out / "summary.md").write_text(SUMMARY_MD)
        (out / "model_card.md").write_text(MODEL_CARD_MD)
    return out


class Page(HTMLParser):
    """What the tests look at in a page: links, images, tables, headings, ids, scripts."""

    def __init__(self, path: Path):
        super().__init__()
        self.links, self.imgs, self.ids, self.scripts, self.text = [], [], set(), [], []
        self.tables = 0
        self._in = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "table":
            self.tables += 1
        elif tag == "script":
            self.scripts.append(a.get("src"))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def body(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = make_tree(tmp_path_factory.mktemp("report") / "outputs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDSTUDY_OUTPUTS", str(out))
        index = html_report.build()
    return out, index


def local_target(base: Path, href: str) -> Path | None:
    """The file a relative link points at (None for links with a scheme)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return None
    return (base.parent / unquote(parts.path)).resolve() if parts.path else base


def test_index_structure(built):
    out, index = built
    assert index == out / "report" / "index.html" and index.is_file()
    page = Page(index)
    # every run and notebook linked, each to a rendered page; the leftovers are not rendered
    for run, nbs in {"wdbc": NOTEBOOKS, "wdbc-fast": NOTEBOOKS[:1]}.items():
        assert f"run-{run}" in page.ids
        for nb in nbs:
            assert f"{run}/{nb}.html" in page.links
            assert (out / "report" / run / f"{nb}.html").is_file()
    assert sorted(p.name for p in (out / "report" / "wdbc").iterdir()) == [f"{nb}.html" for nb in NOTEBOOKS]
    # the smoke-test runs have their own section, after the full runs
    html = index.read_text()
    assert "Smoke-test runs (not results)" in page.body
    assert html.index('id="smoke"') < html.index('href="wdbc-fast/01_data_exploration.html"')
    assert html.index('href="wdbc/01_data_exploration.html"') < html.index('id="smoke"')
    # the summary table and the model card, rendered from markdown
    summary = html[html.index('id="summary"'):html.index('id="model-card"')]
    assert "<table>" in summary and re.search(r"<th[^>]*>accuracy</th>", summary) and "0.951" in summary
    assert "SM-fixture" in page.body and "not found" not in page.body
    # links of summary.md: to a copy of the CSV, to the rendered notebook, to a copy of the repo file; the missing
    # file keeps its text without a link
    assert "files/wdbc/results.csv" in page.links and "wdbc/06_tflite_export.html" in page.links
    assert "files/repo/docs/results.md" in page.links
    assert re.search(r'<span class="unlinked"[^>]*>a file that does not exist</span>', html)
    # key figures copied next to the index, with alt text and a caption
    srcs = {img["src"] for img in page.imgs}
    assert {"figures/summary/x.png", "figures/wdbc/06_pareto.png", "figures/wdbc/03_accuracy_per_split.png"} <= srcs
    assert all(img.get("alt") for img in page.imgs)
    assert "figures/wdbc-fast/06_pareto.png" not in srcs          # smoke-test runs have no key figures
    # self-contained: every local link resolves, nothing from the network
    for href in page.links + sorted(srcs):
        target = local_target(index, href)
        assert target is None or target.exists(), href
        assert not href.startswith(("http:", "https:", "//")), href
    assert page.scripts == []
    nb_page = out / "report" / "wdbc" / "06_tflite_export.html"
    nb = Page(nb_page)
    assert "<title>wdbc · 06_tflite_export</title>" in nb_page.read_text()
    assert not [s for s in nb.scripts if s], nb.scripts             # no require.js / MathJax from a CDN
    assert "../index.html" in nb.links and nb.imgs
    assert all(i["src"].startswith("data:image/png") and i["alt"].startswith("A figure of wdbc") for i in nb.imgs)


def test_missing_summary_is_said(tmp_path, monkeypatch):
    out = make_tree(tmp_path / "outputs", summary=False)
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(out))
    page = Page(html_report.build(runs=["wdbc-fast"]))
    assert "outputs/summary.md not found: run make reproduce" in page.body
    assert "outputs/model_card.md not found" in page.body
    assert page.links.count("wdbc-fast/01_data_exploration.html") == 1
    assert not (out / "report" / "wdbc").exists()                # only the runs asked for
    with pytest.raises(SystemExit, match="no-such-run"):
        html_report.build(runs=["no-such-run"])


def test_incremental_and_atomic(tmp_path, monkeypatch, capsys):
    out = make_tree(tmp_path / "outputs")
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(out))
    html_report.build(runs=["wdbc"])
    page01 = out / "report" / "wdbc" / "01_data_exploration.html"
    page06 = out / "report" / "wdbc" / "06_tflite_export.html"
    before = page01.stat().st_mtime_ns, page06.stat().st_mtime_ns
    capsys.readouterr()
    # a notebook newer than its page is rendered again, the other page is reused
    later = time.time() + 5
    os.utime(out / "wdbc" / "06_tflite_export.ipynb", (later, later))
    html_report.build(runs=["wdbc"])
    lines = capsys.readouterr().out.splitlines()
    assert "report: wdbc/01_data_exploration: up to date" in lines
    assert any(line.startswith("report: wdbc/06_tflite_export: rendered") for line in lines)
    assert page01.stat().st_mtime_ns == before[0] and page06.stat().st_mtime_ns != before[1]
    # a failed build leaves the previous report as it was, and no temporary folder
    index_text = (out / "report" / "index.html").read_text()
    later += 5
    os.utime(out / "wdbc" / "01_data_exploration.ipynb", (later, later))

    def boom(*a, **k):
        raise RuntimeError("render failed")

    monkeypatch.setattr(html_report, "render_notebook", boom)
    with pytest.raises(RuntimeError, match="render failed"):
        html_report.build(runs=["wdbc"])
    assert (out / "report" / "index.html").read_text() == index_text
    assert page01.stat().st_mtime_ns == before[0]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


# ----------------------------------------------------------------------------------------------- Chromium
def chromium():
    """Playwright's sync API, or a skip (a failure in CI) when Debian's chromium is missing."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Debian's chromium: see .ci/run (no browser at {CHROMIUM})")
        pytest.skip(f"Debian's chromium is not installed (no {CHROMIUM}): apt-get install chromium")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def check_images(page) -> list:
    """[(src, naturalWidth)] of the page's images, once loaded."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=20_000)
    return page.evaluate("Array.from(document.images).map(i => [i.currentSrc || i.src, i.naturalWidth])")


def test_index_in_chromium(built, tmp_path):
    sync_playwright = chromium()
    out, index = built
    requests, errors = [], []
    with sync_playwright() as pw:
        # a profile of this test's own (xdist runs tests side by side); --no-sandbox: CI runs as root
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, offline=True)
        try:
            ctx.on("request", lambda r: requests.append(r.url))
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            assert page.goto(index.as_uri()).ok
            assert page.title() == html_report.TITLE
            # the summary table rendered
            assert page.locator("#summary table th", has_text="accuracy").count() == 1
            assert page.locator("#summary table td", has_text="0.951").count() == 1
            # every figure loaded
            imgs = check_images(page)
            assert len(imgs) >= 3 and all(w > 0 for _, w in imgs), imgs
            hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            assert hrefs
            visited = set()
            for href in hrefs:
                parts = urlsplit(href)
                assert parts.scheme == "file", f"external link on the index: {href}"
                target = Path(unquote(parts.path))
                assert target.is_file(), f"broken link on the index: {href}"
                if target == index:
                    if parts.fragment:
                        assert page.locator(f"[id='{parts.fragment}']").count() == 1, href
                    continue
                if target.suffix != ".html" or target in visited:
                    continue
                visited.add(target)
                sub = ctx.new_page()
                sub.on("pageerror", lambda e: errors.append(str(e)))
                assert sub.goto(href).ok, href
                assert sub.title(), f"no title: {href}"
                assert sub.locator(".jp-Cell").count() > 0, f"no cells: {href}"
                assert all(w > 0 for _, w in check_images(sub)), href
                # its own links (back to the index) work too
                for back in sub.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
                    b = urlsplit(back)
                    if b.scheme == "file":
                        assert Path(unquote(b.path)).is_file(), back
                sub.close()
            assert len(visited) == 3, visited               # the three rendered notebooks
        finally:
            ctx.close()
    external = [u for u in requests if not u.startswith(("file:", "data:", "about:"))]
    assert not external, f"the report asked the network for {external}"
    assert any(u.endswith("index.html") for u in requests)
    assert not errors, errors


def test_summary_answers_fit_the_first_screen_in_chromium(tmp_path):
    """summary.md (the committed one, rendered as the report renders it) answers at a glance: its first table is
    the answers table (question, run, verdict, difference) and it and the figure beside it lie on the first
    1280 x 900 screen."""
    md = ROOT / "outputs" / "summary.md"
    if not md.exists():
        pytest.skip("outputs/summary.md not committed yet")
    sync_playwright = chromium()
    body = html_report.render_markdown(md, html_report._Links(ROOT / "outputs", ROOT / "outputs", tmp_path, []))
    page_file = tmp_path / "summary.html"
    page_file.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{html_report.INDEX_CSS}</style></head>"
                         f"<body><main class='wrap'>{body}</main></body></html>", encoding="utf-8")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, offline=True)
        try:
            page = ctx.new_page()
            assert page.goto(page_file.as_uri()).ok
            check_images(page)
            heads = page.evaluate("Array.from(document.querySelector('table').querySelectorAll('th')).map(t => t.textContent)")
            assert heads[:2] == ["question", "answer"], heads
            table = page.evaluate("document.querySelector('table').getBoundingClientRect().toJSON()")
            img = page.evaluate("(() => { const i = document.querySelector('img'); return [i.getAttribute('alt'), "
                                "i.naturalWidth, i.getBoundingClientRect().toJSON()]; })()")
            assert img[0].startswith("The answers at a glance") and img[1] > 0, img
            assert table["bottom"] <= 900 and img[2]["bottom"] <= 900, (table, img[2])
            assert img[2]["top"] >= table["bottom"] - 1  # the figure follows the table, it does not cover it
        finally:
            ctx.close()
