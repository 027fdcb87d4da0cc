"""Small server-rendered SVG charts: no script, no CDN, readable on a cheap phone."""

from __future__ import annotations

from markupsafe import Markup, escape


def bar_chart(series: list[tuple[str, int]], *, width: int = 600, height: int = 160, title: str = "") -> Markup:
    """Vertical bars with the value on hover (<title>) and a few x labels."""
    if not series:
        return Markup("")
    top = max(value for _label, value in series) or 1
    bar_width = width / len(series)
    plot_height = height - 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(series):
        bar_height = round(plot_height * value / top, 1)
        x = round(index * bar_width + 1, 1)
        parts.append(f'<rect x="{x}" y="{round(plot_height - bar_height, 1)}" width="{round(bar_width - 2, 1)}" '
                     f'height="{bar_height}" fill="#2f6b2f" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {value}</title></rect>')
    step = max(1, len(series) // 6)
    for index in range(0, len(series), step):
        x = round(index * bar_width + bar_width / 2, 1)
        parts.append(f'<text x="{x}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#556">{escape(series[index][0])}</text>')
    parts.append(f'<text x="{width - 4}" y="12" font-size="11" text-anchor="end" fill="#556">max {top}</text></svg>')
    return Markup("".join(parts))
