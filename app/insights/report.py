"""The insights view as HTML: the dashboard at /instructor and the self-contained report `course-guide insights` writes."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from eval.report import _pyplot, _shorten, _svg

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def over_time_plot(per_day: list[dict[str, Any]]) -> Markup | None:
    """Questions per day, the refused part of each bar in red."""
    if not per_day:
        return None
    plt = _pyplot()
    days = [d["day"][5:] for d in per_day]
    answered = [d["questions"] - d["refused"] for d in per_day]
    refused = [d["refused"] for d in per_day]
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(12, 2.6))
    ax.bar(days, answered, color="#2563eb", label="answered")
    ax.bar(days, refused, bottom=answered, color="#dc2626", label="refused")
    ax.set_ylabel("questions per day")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    if len(days) > 14:
        ax.set_xticks(range(0, len(days), max(1, len(days) // 10)))
    return _svg(fig)


def bars_plot(counts: Mapping[str, int], colour: str = "#2563eb") -> Markup | None:
    """Horizontal bars of counts, biggest on top."""
    if not counts:
        return None
    plt = _pyplot()
    items = list(counts.items())[:12][::-1]
    fig, ax = plt.subplots(figsize=(6.2, 0.6 + 0.34 * len(items)))
    bars = ax.barh([_shorten(name, 40) for name, _ in items], [n for _, n in items], color=colour)
    for bar, (_, n) in zip(bars, items):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n}", va="center", fontsize=9)
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    return _svg(fig)


def render(summary: dict[str, Any], *, course: str, dashboard: bool, filters: dict[str, Any] | None = None,
           lessons: list[str] | None = None, notice: str | None = None, root: str = "") -> str:
    """The page; every learner-typed string goes through Jinja's autoescape, so it shows as text."""
    plots = {
        "over_time": over_time_plot(summary["per_day"]),
        "lessons": bars_plot(summary["lessons"]),
        "channels": bars_plot(summary["channels"], "#10b981"),
    }
    return _env.get_template("insights.html.j2").render(
        s=summary, course=course, dashboard=dashboard, filters=filters or {}, lessons=lessons or [], plots=plots, notice=notice, root=root)


def sign_in_page(message: str | None = None, root: str = "") -> str:
    """The sign-in form; `root` is the course's path (/c/NAME, or "" for the default course)."""
    return _env.get_template("sign_in.html.j2").render(message=message, root=root)
