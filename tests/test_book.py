"""`make report` (lib/tools/book.py): the study's report as a Jupyter Book, built from a small fixture outputs tree.

The staging tests read the book's sources (no build); one build of the fixture (about 15-30 s) serves the structure
tests and the browser tests, which open every page of the site in Debian's headless Chromium (driven by Playwright,
no browser download) and check that it loads, that every image and local link resolves, that nothing is fetched from
the network, and that the first screen of the index shows the summary's answers. Without Chromium the browser tests
are skipped, except in CI (CI set), where .ci/run must have installed it.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from lib.analysis import glossary
from lib.core import results
from lib.tools import book

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "outputs" / "wdbc-fast"
NOTEBOOKS = ("01_data_exploration", "06_tflite_export")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = ("file:", "data:", "about:", "blob:")

# The links a markdown file of outputs/ may hold, one of each kind the book resolves.
LINKS = """Numbers per split: [results.csv](outputs/wdbc/results.csv); how they were made:
[notebook 06](wdbc/06_tflite_export.ipynb); the run: [wdbc](wdbc/); the contract: [docs](docs/results.md);
[a file that does not exist](outputs/wdbc/nope.csv);
elsewhere: [the paper](https://doi.org/10.3390/electronics14244842), [a README](https://example.org/README.md);
in code, left alone: `[x](y.md)`.
"""
SUMMARY_MD = f"""# Summary

Fixture summary (not a result).

## Answers at a glance

| question | answer |
|---|---|
| Does the student match the teacher? | **Not shown** |

![The answers at a glance: a fixture figure](summary/figures/08_answers.png)

## The detail, one page each

- [What the answers rest on, and each answer in words](summary/pages/answers.md)

{LINKS}"""
PAGE_MD = """# What the answers rest on, and each answer in words

![What the answers rest on: a fixture figure](summary/figures/08_answers_basis.png)

Back to [the summary](../../summary.md) and [notebook 01](../../wdbc/01_data_exploration.ipynb).
"""
MODEL_CARD_MD = f"# Model card\n\nStudent **SM-fixture**: 518 parameters, int8, 2.7 kB.\n\n{LINKS}"
FAST_MD = "# Summary (fast profile)\n\nFixture: a smoke test.\n"


def make_tree(out: Path, summary: str | None = "fixture") -> Path:
    """outputs/ with a full run `wdbc` (two notebooks of wdbc-fast, their figures, results.csv), a fast-profile run
    `wdbc-fast` (notebook 01), papermill leftovers to skip, and the markdown files: ``summary`` 'fixture' (the
    fixture's summary and its one page), 'committed' (the repository's outputs/summary.md and its pages, else the
    fixture's) or None (no summary, no model card)."""
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
    (out / "summary" / "pages").mkdir()
    for name in ("08_answers.png", "08_answers_basis.png"):
        shutil.copy2(SRC / "figures" / "01_class_balance.png", out / "summary" / "figures" / name)
    if summary is None:
        return out
    committed = ROOT / "outputs" / "summary.md"
    if summary == "committed" and committed.is_file():
        shutil.copy2(committed, out / "summary.md")
        for f in (ROOT / "outputs" / "summary" / "pages").glob("*.md"):
            shutil.copy2(f, out / "summary" / "pages" / f.name)
        for f in (ROOT / "outputs" / "summary" / "figures").glob("08_answers*.png"):
            shutil.copy2(f, out / "summary" / "figures" / f.name)
    else:
        (out / "summary.md").write_text(SUMMARY_MD)
        (out / "summary" / "pages" / "answers.md").write_text(PAGE_MD)
    (out / "model_card.md").write_text(MODEL_CARD_MD)
    (out / "summary-fast.md").write_text(FAST_MD)
    return out


def snapshot(folder: Path, skip: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and not p.is_relative_to(skip)}


# ----------------------------------------------------------------------------------------------- staging
def test_stage_sources(tmp_path):
    out = make_tree(tmp_path / "outputs")
    before = snapshot(out, out / "report")
    runs = book.discover(out)
    assert [r.name for r in runs] == ["wdbc", "wdbc-fast"]
    assert [nb.name for nb in runs[0].notebooks] == list(NOTEBOOKS)    # papermill's leftovers skipped
    src = book.stage(tmp_path / "src", runs, out, out / "report")
    assert snapshot(out, out / "report") == before                     # nothing written into outputs/

    toc = yaml.safe_load((src / "_toc.yml").read_text())
    assert toc["root"] == "index"
    parts = {p["caption"]: p["chapters"] for p in toc["parts"]}
    assert list(parts) == ["The summary in detail", "The study", "Notebooks of the full runs",
                           "Fast profile (smoke test, not results)"]
    assert parts["The summary in detail"] == [{"file": "summary/pages/answers"}]
    assert [c["file"] for c in parts["The study"]] == ["model_card", "figures", "glossary", "about"]
    wdbc = parts["Notebooks of the full runs"][0]
    assert wdbc["file"] == "wdbc/index"
    assert [s["file"] for s in wdbc["sections"]] == [f"wdbc/{nb}" for nb in NOTEBOOKS]
    assert wdbc["sections"][0]["title"].startswith("01 · ")
    fast = parts["Fast profile (smoke test, not results)"]
    # the fast profile's pages carry the full ones' headings: the navigation prefixes them
    assert fast[0]["file"] == "fast" and [s["file"] for s in fast[0]["sections"]] == ["fast_summary"]
    assert fast[0]["sections"][0]["title"].startswith("Fast profile: ")
    assert fast[1]["file"] == "wdbc-fast/index"
    for entry in [wdbc, *fast] + parts["The study"] + parts["The summary in detail"]:
        for doc in [entry["file"]] + [s["file"] for s in entry.get("sections", [])]:
            assert (src / f"{doc}.md").is_file() or (src / f"{doc}.ipynb").is_file(), doc
    assert "execute_notebooks: \"off\"" in (src / "_config.yml").read_text()
    assert ".bd-article table" in (src / "_static" / "report.css").read_text()  # wide tables fit the page

    # the summary's image alone on its line: a figure captioned with its alt text
    index = (src / "index.md").read_text()
    assert (":::{figure} summary/figures/08_answers.png\n:alt: The answers at a glance: a fixture figure\n\n"
            "The answers at a glance: a fixture figure\n:::") in index
    # links: the page it links to, a copy of the CSV, the notebook's page, the run's page, a copy of the repository
    # file; the missing file keeps its text without a link; external links and code spans stay
    assert "[What the answers rest on, and each answer in words](summary/pages/answers.md)" in index
    assert "[results.csv](wdbc/results.csv)" in index and (src / "wdbc" / "results.csv").is_file()
    assert "[notebook 06](wdbc/06_tflite_export.ipynb)" in index and "[wdbc](wdbc/index.md)" in index
    assert "{download}`docs <repo/docs/results.md>`" in index and (src / "repo" / "docs" / "results.md").is_file()
    assert "\na file that does not exist;\nelsewhere" in index
    assert "(https://doi.org/10.3390/electronics14244842)" in index and "`[x](y.md)`" in index
    assert "[a README](https://example.org/README.md)" in index
    # a linked page's links are relative to it (its images written from outputs/, as notebook 08 writes them)
    page = (src / "summary" / "pages" / "answers.md").read_text()
    assert ":::{figure} ../figures/08_answers_basis.png" in page
    assert "[the summary](../../index.md)" in page and "[notebook 01](../../wdbc/01_data_exploration.ipynb)" in page
    # the staged notebooks: the run in their title, a warning on the fast profile's, alt text on figures
    nb = (src / "wdbc" / "06_tflite_export.ipynb").read_text()
    assert '"# wdbc · 06 · ' in nb and '"alt": "A figure of wdbc · 06_tflite_export"' in nb
    assert "Fast profile (smoke test)" in (src / "wdbc-fast" / "01_data_exploration.ipynb").read_text()
    assert "Fast profile (smoke test)" not in nb
    # a title written over two '# ' lines (notebook 03's) is one heading, so the page has one title
    title, end = book._heading("# 03 · Does a student keep it, and is it the\n# distillation that helps?\n\nText")
    assert title == "03 · Does a student keep it, and is it the distillation that helps?"
    assert end == len("# 03 · Does a student keep it, and is it the\n# distillation that helps?\n")
    # the glossary page is lib/analysis/glossary.py's table, and the book holds one: links to a summary's own
    # copy of the same table (notebook 08 writes one per profile) go to it
    assert glossary.render_markdown() in (src / "glossary.md").read_text()
    if (out / "summary" / "pages" / "glossary.md").exists():
        assert not (src / "summary" / "pages" / "glossary.md").exists()
    assert not list(src.rglob("pages/glossary.md"))
    # the run's page lists its notebooks and its results
    run = (src / "wdbc" / "index.md").read_text()
    assert "(01_data_exploration.ipynb)" in run and "[results.csv](results.csv)" in run


def test_stage_without_summary_and_runs_filter(tmp_path):
    out = make_tree(tmp_path / "outputs", summary=None)
    src = book.stage(tmp_path / "src", book.discover(out, ["wdbc-fast"]), out, out / "report", filtered=True)
    assert "outputs/summary.md not found: run make reproduce" in (src / "index.md").read_text()
    assert "outputs/model_card.md not found" in (src / "model_card.md").read_text()
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    assert [p["caption"] for p in toc["parts"]] == ["The study", "Fast profile (smoke test, not results)"]
    assert not (src / "wdbc").exists()                               # only the runs asked for
    assert "No executed notebooks of the full runs" in (src / "about.md").read_text()
    with pytest.raises(SystemExit, match="no-such-run"):
        book.discover(out, ["no-such-run"])


# ----------------------------------------------------------------------------------------------- one build
def _build_fixture(base: Path) -> tuple:
    out = make_tree(base / "outputs", summary="committed")
    scratch = base / "tmp"
    scratch.mkdir()
    before = snapshot(out, out / "report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDSTUDY_OUTPUTS", str(out))
        mp.setattr(tempfile, "tempdir", str(scratch))      # where the build stages its sources
        warnings = []
        index = book.build(warnings=warnings)
    assert not warnings, warnings
    return out, index, before, scratch


@pytest.fixture(scope="module")
def built(tmp_path_factory, request):
    """The book of the fixture tree (with the committed summary when there is one), built once per test session:
    under pytest-xdist the first worker that needs it builds it in the session's shared temporary folder, and the
    others wait for it and read it (the tests only read it)."""
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if worker is None:
        return _build_fixture(tmp_path_factory.mktemp("book"))
    shared = tmp_path_factory.getbasetemp().parent / "book-fixture"
    with open(tmp_path_factory.getbasetemp().parent / "book-fixture.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "done").is_file():
                shutil.rmtree(shared, ignore_errors=True)
                shared.mkdir()
                _, _, before, _ = _build_fixture(shared)
                (shared / "before.json").write_text(json.dumps(before))
                (shared / "done").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    out = shared / "outputs"
    before = {k: tuple(v) for k, v in json.loads((shared / "before.json").read_text()).items()}
    return out, out / "report" / "index.html", before, shared / "tmp"


def test_build(built):
    out, index, before, scratch = built
    report = out / "report"
    assert index == report / "index.html" and index.is_file()
    assert snapshot(out, report) == before                              # outputs/ as it was
    assert not list(scratch.iterdir())                                  # the staging folder removed
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no build or swap folder left
    for page in ("model_card", "figures", "glossary", "about", "fast", "fast_summary", "wdbc/index",
                 "wdbc/01_data_exploration", "wdbc/06_tflite_export", "wdbc-fast/01_data_exploration"):
        assert (report / f"{page}.html").is_file(), page
    assert not list(report.glob("wdbc/0[23]_*"))                       # the leftovers are not pages
    assert not (report / "_sources").exists() and not (report / ".buildinfo").exists()
    html = index.read_text()
    # the summary's figure, captioned with its alt text
    alt = re.search(r"!\[([^\]]+)\]\(summary/figures/08_answers\.png\)", (out / "summary.md").read_text()).group(1)
    fig = re.search(r"<figure.*?</figure>", html, re.S).group(0)
    assert "<figcaption>" in fig and alt in fig and 'alt="' in fig
    # every model name on the glossary page
    text = (report / "glossary.html").read_text()
    assert all(f"<strong>{m}</strong>" in text for m in results.MODELS)
    # the model card's links: the notebook's page, the run's page, downloads of the CSV and of the repository file,
    # no link for the missing file
    card = (report / "model_card.html").read_text()
    hrefs = re.findall(r'href="([^"]+)"', card)
    assert "wdbc/06_tflite_export.html" in hrefs and "wdbc/index.html" in hrefs
    assert any(re.fullmatch(r"_downloads/\w+/results\.csv", h) for h in hrefs)
    assert any(re.fullmatch(r"_downloads/\w+/results\.md", h) for h in hrefs)
    assert "a file that does not exist" in card and "nope.csv" not in card
    # offline: no script, style or font from the network, no CDN named anywhere
    for page in report.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=\"(https?:)?//", text), page
        assert not re.search(r"unpkg\.com|jsdelivr|cdnjs|mathjax|require\.js|googletagmanager", text, re.I), page


def test_failed_build_keeps_the_previous_report(built, tmp_path, monkeypatch):
    out, index, _, _ = built
    report = out / "report"
    files = snapshot(report, report / "none")
    broken = tmp_path / "bookconf"
    broken.mkdir()
    shutil.copy2(book.BOOK / "_toc.yml", broken / "_toc.yml")
    (broken / "_config.yml").write_text((book.BOOK / "_config.yml").read_text() + "sphinx: [unclosed\n")
    monkeypatch.setattr(book, "BOOK", broken)
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(out))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="jupyter-book build failed"):
        book.build()
    assert snapshot(report, report / "none") == files                  # the previous report, untouched
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bookconf"]  # the staging folder removed


def test_swap_replaces_the_report_in_place(tmp_path):
    report, new = tmp_path / "report", tmp_path / ".report.new-x"
    (report / "old").mkdir(parents=True)
    (new / "fresh").mkdir(parents=True)
    book._swap(new, report)
    assert [p.name for p in report.iterdir()] == ["fresh"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]         # the old report and the new folder gone
    (new / "second").mkdir(parents=True)
    book._swap(new, tmp_path / "first-time")                         # no report yet
    assert (tmp_path / "first-time" / "second").is_dir()


# ----------------------------------------------------------------------------------------------- Chromium
@pytest.fixture(scope="module")
def chromium():
    """Playwright's sync API, or a skip (a failure in CI) when Debian's chromium is missing; asked for before the
    build, so a skip does not build the book first."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Debian's chromium: see .ci/run (no browser at {CHROMIUM})")
        pytest.skip(f"Debian's chromium is not installed (no {CHROMIUM}): apt-get install chromium")
    from playwright.sync_api import sync_playwright

    return sync_playwright


def browser(pw, profile: Path, height: int = 800):
    # a profile of this test's own (xdist runs tests side by side); --no-sandbox: CI runs as root; offline, so a
    # request to the network would fail as well as be recorded
    return pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": height}, offline=True)


def images(page) -> list:
    """[(src, naturalWidth, naturalHeight)] of the page's images, once loaded."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=20_000)
    return page.evaluate("Array.from(document.images).map(i => [i.currentSrc || i.src, i.naturalWidth, "
                         "i.naturalHeight])")


def test_every_page_in_chromium(chromium, built, tmp_path):
    """Every page of the site loads without a script error, its images load with a size, its local links lead to a
    file (and to an element, for a link with an anchor), and no page asks the network for anything."""
    sync_playwright = chromium
    out, index, _, _ = built
    report = (out / "report").resolve()
    pages = sorted(p for p in report.rglob("*.html") if "_static" not in p.relative_to(report).parts)
    requests, failed, errors = [], [], []
    ids: dict[Path, set] = {}

    def anchors(f: Path) -> set:
        if f not in ids:
            ids[f] = set(re.findall(r'\bid="([^"]+)"', f.read_text(encoding="utf-8")))
        return ids[f]

    with sync_playwright() as pw:
        ctx = browser(pw, tmp_path / "profile")
        try:
            ctx.on("request", lambda r: requests.append(r.url))
            ctx.on("requestfailed", lambda r: failed.append(r.url))
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
            n_links = n_imgs = 0
            for f in pages:
                assert page.goto(f.as_uri()).ok, f
                assert page.title(), f"no title: {f}"
                imgs = images(page)
                assert all(w > 0 and h > 0 for _, w, h in imgs), (f, imgs)
                n_imgs += len(imgs)
                for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
                    parts = urlsplit(href)
                    if parts.scheme != "file":
                        assert parts.scheme in ("http", "https", "mailto"), href
                        continue
                    target = Path(unquote(parts.path))
                    assert target.is_file() and target.is_relative_to(report), f"broken link on {f}: {href}"
                    if parts.fragment and target.suffix == ".html":
                        assert unquote(parts.fragment) in anchors(target), f"no anchor on {f}: {href}"
                    n_links += 1
        finally:
            ctx.close()
    assert len(pages) >= 12 and n_links > 100 and n_imgs >= 5, (len(pages), n_links, n_imgs)
    external = [u for u in requests if not u.startswith(LOCAL)]
    assert not external, f"the report asked the network for {external}"
    assert not failed, f"requests that failed: {failed}"
    assert not errors, errors


def test_index_first_screen_shows_the_answers_in_chromium(chromium, built, tmp_path):
    """The index (the summary; the committed one when there is one) shows its answers table on the first screen of
    1280 x 800: the heading 'Answers at a glance' and the table's first row."""
    sync_playwright = chromium
    out, index, _, _ = built
    with sync_playwright() as pw:
        ctx = browser(pw, tmp_path / "profile", height=800)
        try:
            page = ctx.new_page()
            assert page.goto(index.as_uri()).ok
            assert page.title().startswith("Summary")
            heading = page.get_by_role("heading", name=re.compile("Answers at a glance")).bounding_box()
            assert heading and heading["y"] + heading["height"] <= 800, heading
            table = page.locator("section#answers-at-a-glance table").first
            head = [t.strip() for t in table.locator("th").all_inner_texts()]
            assert head[:2] == ["question", "answer"], head
            row = table.locator("tbody tr").first.bounding_box()
            assert row and row["y"] < 800 - 40, row
        finally:
            ctx.close()


def test_question_tables_fit_the_page_in_chromium(chromium, built, tmp_path):
    """The tables of the summary's question pages (eight columns) fit the article at 1280 px: no column is cut at
    the right edge behind a scroll bar the reader does not see (report/_static/report.css)."""
    sync_playwright = chromium
    out, _, _, _ = built
    pages = sorted((out / "report" / "summary" / "pages").glob("[0-9]*.html"))
    if not pages:
        pytest.skip("no committed question pages in this tree")
    with sync_playwright() as pw:
        ctx = browser(pw, tmp_path / "profile")
        try:
            page = ctx.new_page()
            cut = []
            for f in pages:
                assert page.goto(f.as_uri()).ok, f
                widths = page.evaluate("Array.from(document.querySelectorAll('.bd-article table'))"
                                       ".map(t => [t.scrollWidth, t.parentElement.clientWidth])")
                cut += [(f.name, w, c) for w, c in widths if w > c + 1]
        finally:
            ctx.close()
    assert not cut, f"tables wider than their column: {cut}"
