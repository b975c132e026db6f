"""The yearly chart: services meeting the criteria (stock, first time) beside the official designations.

A pure function of the published `national_impact_summary` rows; matplotlib (Agg, no pyplot state) is
imported inside the function so that loading the code location stays fast.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from impact_pipeline.defs.reporting.labels import CHART_SERIES

WIDTH_PX, HEIGHT_PX, DPI = 1000, 500, 100

_BAR_SERIES = ("n_meeting_criteria", "n_first_meeting", "n_designated_in_year")
_COLORS = {
    "n_meeting_criteria": "#1f6fb4",
    "n_first_meeting": "#7fb8e6",
    "n_designated_in_year": "#e07b24",
    "n_designated_cumulative": "#8a4a0f",
}


# A PNG text chunk naming what the chart was drawn from (`chart_key`): an unchanged chart is not drawn again.
KEY_CHUNK = "impact_pipeline:input"


def chart_key(summary: Iterable[Mapping[str, Any]], *args: Any, **kwargs: Any) -> str:
    """A digest of everything `render_chart` draws from: its arguments (the same as `render_chart`'s) and the code
    that draws (this module and the labels), so that a changed chart, label or drawing code is drawn again."""
    import hashlib
    import inspect
    import json
    from pathlib import Path

    from impact_pipeline.defs.reporting import labels

    call = inspect.signature(render_chart).bind(summary, *args, **kwargs)
    call.apply_defaults()
    rows = sorted((dict(r) for r in summary), key=lambda r: int(r["year"]))
    options = [value for name, value in call.arguments.items() if name != "summary"]
    digest = hashlib.sha256(json.dumps([rows, *options], sort_keys=True, default=str).encode())
    for module in (__file__, labels.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def drawn_from(png: bytes) -> str | None:
    """The `chart_key` a PNG written by `render_chart` carries, or None."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    at = 8
    while at + 8 <= len(png):
        length, kind = int.from_bytes(png[at : at + 4], "big"), png[at + 4 : at + 8]
        data = png[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            keyword, _, text = data.partition(b"\0")
            if keyword.decode("latin-1") == KEY_CHUNK:
                return text.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):  # matplotlib writes its text chunks before the image data
            return None
        at += 12 + length
    return None


def render_chart(
    summary: Iterable[Mapping[str, Any]],
    highlight_year: int | None = None,
    title: str | None = None,
    in_progress_year: int | None = None,
    note: str | None = None,
) -> bytes:
    """A PNG (1000×500 px) of each year's counts; `highlight_year` is shaded (the year of a report).

    Bars: meeting the criteria (stock), meeting them for the first time, designated for the year.
    Line: designated, cumulative. `in_progress_year` (the current year) is labelled as unfinished.
    The bytes are deterministic for the same input, and carry its `chart_key`.
    """
    summary = list(summary)
    input_key = chart_key(summary, highlight_year, title, in_progress_year, note)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = sorted(summary, key=lambda r: int(r["year"]))
    years = [int(r["year"]) for r in rows]
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title or "National impact: services meeting the criteria and official designations", fontsize=12)
    if not rows:
        ax.text(0.5, 0.5, "no published year yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        width = 0.26
        for i, key in enumerate(_BAR_SERIES):
            xs = [y + (i - 1) * width for y in years]
            values = [int(r[key] or 0) for r in rows]
            bars = ax.bar(xs, values, width=width, label=CHART_SERIES[key], color=_COLORS[key], zorder=2)
            ax.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=7, padding=1)
        cumulative = [int(r["n_designated_cumulative"] or 0) for r in rows]
        ax.plot(
            years,
            cumulative,
            marker="o",
            color=_COLORS["n_designated_cumulative"],
            label=CHART_SERIES["n_designated_cumulative"],
            zorder=3,
        )
        if highlight_year is not None and highlight_year in years:
            ax.axvspan(
                highlight_year - 0.5,
                highlight_year + 0.5,
                color="#ffe9a8",
                zorder=0,
                label=f"{highlight_year} (this report)",
            )
        ax.set_xticks(years)
        ax.set_xticklabels([f"{y}\n(in progress)" if y == in_progress_year else str(y) for y in years])
        ax.set_xlim(min(years) - 0.6, max(years) + 0.6)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max([1, *cumulative, *(int(r[k] or 0) for r in rows for k in _BAR_SERIES)]) * 1.15)
        ax.set_ylabel("services")
        ax.grid(axis="y", color="#dddddd", zorder=1)
        ax.spines[["top", "right"]].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: (labels[i] == CHART_SERIES["n_designated_cumulative"], i))
        ax.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=3,
            fontsize=8,
            frameon=False,
        )
    if note:  # incomplete evidence: said on the chart itself, which travels without the report
        fig.text(
            0.5,
            0.955,
            note,
            ha="center",
            va="center",
            fontsize=9,
            color="#8a4a00",
            bbox={"boxstyle": "round", "facecolor": "#fff4e0", "edgecolor": "#b36b00"},
        )
    # Fixed margins (tight_layout costs a second draw): room for the two-line year labels and the legend.
    fig.subplots_adjust(left=0.07, right=0.98, top=0.85 if note else 0.92, bottom=0.24)
    buffer = io.BytesIO()
    # No "Software" tag: the same input gives the same bytes, whatever the matplotlib version.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None, KEY_CHUNK: input_key})
    return buffer.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
