"""Legibility check of a matplotlib figure: overlapping text, text outside the figure, text too small.

:func:`problems` draws the figure with the Agg renderer at the dpi it is saved with (``savefig.dpi``), records
every Text artist that is actually drawn (titles, suptitle, axis labels, tick labels in view, annotations, legend
texts, offset texts; empty strings are not drawn) with its window extent, and returns one human-readable line
per problem:

- two text boxes that overlap by more than ``tol_px`` pixels each way (tick labels of different axes count);
- text that leaves the figure canvas (more than ``tol_px``), or that its own clip box cuts;
- text smaller than ``min_pt`` points as shown: the report shows a figure at most ``max_width_px`` pixels wide
  (the saved width is the tight bounding box at the saved dpi), so a wider figure is scaled down, and its fonts
  with it.
"""
from __future__ import annotations

import contextlib

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

MIN_PT = 8.0          # smallest font size as shown, in points
MAX_WIDTH_PX = 1140   # the report's text width: at most about 1,140 px at 100 dpi
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


def problems(fig, *, min_pt: float = MIN_PT, max_width_px: float = MAX_WIDTH_PX, tol_px: float = TOL_PX,
             dpi: float | None = None) -> list[str]:
    """Legibility problems of ``fig`` (see the module docstring), one line each; empty when it is legible."""
    drawn = drawn_texts(fig, dpi)
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
    # size as shown
    saved_px = fig.get_tightbbox(renderer).width * fig.dpi
    scale = min(1.0, max_width_px / saved_px)
    for t, _ in drawn:
        shown = t.get_fontsize() * scale
        if shown < min_pt - 1e-9:
            out.append(f"too small: {_name(t)} is {t.get_fontsize():g} pt, {shown:.1f} pt as shown "
                       f"(figure {saved_px:.0f} px wide, shown at most {max_width_px:.0f} px)")
    return out
