"""Legibility check of a matplotlib figure: overlapping text, text outside the figure, text too small.

:func:`problems` draws the figure with the Agg renderer at the dpi it is saved with (``savefig.dpi``), records
every Text artist that is actually drawn (titles, suptitle, axis labels, tick labels in view, annotations, legend
texts, offset texts; empty strings are not drawn) with its window extent, and returns one human-readable line
per problem:

- two text boxes that overlap by more than ``tol_px`` pixels each way (tick labels of different axes count);
- text that leaves the figure canvas (more than ``tol_px``), or that its own clip box cuts;
- text smaller than the report's body text as shown (``min_px`` CSS pixels; mathtext's super- and subscripts at
  70% of their text's size). The report shows a figure's image at
  its own size, or scaled down to the text column (``column_px``) when it is wider, and its fonts with it. A
  figure has two images: the notebook page shows it rendered at the figure's own dpi, the figures page the file
  saved at ``savefig.dpi``; a font of ``s`` points is ``s * dpi / 72`` pixels in an image of ``w`` inches x
  ``dpi``, shown at ``min(1, column_px / (w * dpi))`` of that. Both images are checked.

The column and the body text were measured in headless Chromium on the built report, in a window 1,280 px wide
(docs/guide.md, Report): 672 px on a markdown page (688 on a notebook page), body text 16 px.
"""
from __future__ import annotations

import contextlib

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

COLUMN_PX = 672       # the report's text column in a 1,280-px window (the narrower of its two kinds of page)
BODY_PX = 16.0        # the report's body text; no text of a figure may be shown smaller
TOL_PX = 1.5          # boxes may touch or overlap this much (antialiasing, hinting)


@contextlib.contextmanager
def _recording(drawn: list):
    """Record ``(text, extent)`` of every Text drawn while active (Annotation.draw ends in Text.draw too)."""
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append((self, Text.get_window_extent(self, renderer)))  # the text, not an arrow
        return original(self, renderer)

    Text.draw = draw
    try:
        yield
    finally:
        Text.draw = original


def _where(t: Text) -> str:
    ax = t.axes
    if ax is None:
        return "figure"
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel() or ax.get_xlabel()
    return f"axes {title!r}" if title else "axes"


def _name(t: Text) -> str:
    s = t.get_text().replace("\n", " ")
    return f"{type(t).__name__} {s[:40]!r} ({_where(t)})"


def drawn_texts(fig, dpi: float | None = None) -> list:
    """``[(text, extent in display pixels)]`` of every Text drawn when ``fig`` is drawn at ``dpi`` (default: the
    saved dpi, ``savefig.dpi``, or the figure's if that is 'figure')."""
    dpi = dpi or matplotlib.rcParams["savefig.dpi"]
    if dpi == "figure":
        dpi = fig.dpi
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    drawn = []
    with _recording(drawn):
        fig.canvas.draw()
    return drawn


def problems(fig, *, min_px: float = BODY_PX, column_px: float = COLUMN_PX, tol_px: float = TOL_PX,
             dpi: float | None = None) -> list[str]:
    """Legibility problems of ``fig`` (see the module docstring), one line each; empty when it is legible.
    ``dpi``: the dpi the file is saved with (default ``savefig.dpi``)."""
    own_dpi = fig.dpi  # the notebook shows the figure at its own dpi; drawn_texts sets the saved one
    try:
        return _problems(fig, drawn_texts(fig, dpi), own_dpi, min_px, column_px, tol_px)
    finally:
        fig.set_dpi(own_dpi)


def _shown_size(t: Text) -> float:
    """The font size a text is drawn at, in points: mathtext's super- and subscripts (the exponent of a log
    axis's 10^k) at 70% of it."""
    s = t.get_text()
    return t.get_fontsize() * (0.7 if "$" in s and ("^" in s or "_" in s) else 1.0)


def _problems(fig, drawn, own_dpi, min_px, column_px, tol_px) -> list[str]:
    renderer = fig.canvas.get_renderer()
    out = []
    # overlaps
    for i, (a, ea) in enumerate(drawn):
        for b, eb in drawn[i + 1:]:
            dx = min(ea.x1, eb.x1) - max(ea.x0, eb.x0)
            dy = min(ea.y1, eb.y1) - max(ea.y0, eb.y0)
            if dx > tol_px and dy > tol_px:
                out.append(f"overlap: {_name(a)} and {_name(b)} ({dx:.0f} x {dy:.0f} px)")
    # outside the figure, cut by a clip box
    W, H = fig.bbox.width, fig.bbox.height
    for t, e in drawn:
        off = max(-e.x0, -e.y0, e.x1 - W, e.y1 - H)
        if off > tol_px:
            out.append(f"outside the figure: {_name(t)} by {off:.0f} px")
        clip = t.get_clip_box() if t.get_clip_on() else None
        if clip is not None and max(clip.x0 - e.x0, clip.y0 - e.y0, e.x1 - clip.x1, e.y1 - clip.y1) > tol_px:
            out.append(f"cut by its clip box: {_name(t)}")
    # size as shown, in whichever image shows the text smaller (the notebook's at the figure's dpi, the saved file)
    width_in = fig.get_tightbbox(renderer).width  # both images are cut to it and padded each side
    if matplotlib.rcParams["savefig.bbox"] == "tight":
        width_in += 2 * matplotlib.rcParams["savefig.pad_inches"]
    saved_dpi = fig.dpi
    shown = {}
    for name, d in (("notebook image", own_dpi), ("saved file", saved_dpi)):
        px_per_pt = d / 72 * min(1.0, column_px / (width_in * d))
        shown[name] = (px_per_pt, width_in * d)
    where, (px_per_pt, image_px) = min(shown.items(), key=lambda kv: kv[1][0])
    for t, _ in drawn:
        px = _shown_size(t) * px_per_pt
        if px < min_px - 1e-9:
            out.append(f"too small: {_name(t)} is {_shown_size(t):g} pt, {px:.1f} px as shown in the {where} "
                       f"({image_px:.0f} px wide, shown at most {column_px:.0f} px; body text {min_px:g} px)")
    return out
