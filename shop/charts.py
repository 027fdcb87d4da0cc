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


def _svg_open(width: int, height: int, title: str, description: str, chart_id: str) -> list[str]:
    # role=img with aria-labelledby: screen readers announce the title and the summary, not the shapes.
    return [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
             f'id="{escape(chart_id)}" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
             f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
             f'<text class="chart-title" x="8" y="18" font-size="14" font-weight="600" fill="#223">{escape(title)}</text>')]


def _summary(series, format_value, empty_text: str, highest_text: str) -> str:
    """What a screen reader says after the title: the highest bar, or that there is nothing."""
    if not series or not any(value for _label, value in series):
        return empty_text
    label, value = max(series, key=lambda item: item[1])
    return highest_text.format(label=label, value=format_value(value))


def column_chart(series: list[tuple[str, int | float]], *, title: str, chart_id: str, format_value=str,
                 empty_text: str = "—", highest_text: str = "max {label}: {value}", width: int = 640,
                 height: int = 240) -> Markup:
    """Vertical bars over a sequence (months), with a titled, described SVG, three labelled grid
    lines and each bar's value in its tooltip. Values are formatted by the caller, for its language."""
    top_margin, bottom_margin, left_margin, right_margin = 34, 26, 70, 8
    plot_height = height - top_margin - bottom_margin
    plot_width = width - left_margin - right_margin
    top = max((value for _label, value in series), default=0) or 1
    parts = _svg_open(width, height, title, _summary(series, format_value, empty_text, highest_text), chart_id)
    for fraction in (0, 0.5, 1):
        y = round(top_margin + plot_height * (1 - fraction), 1)
        parts.append(f'<line x1="{left_margin}" y1="{y}" x2="{width - right_margin}" y2="{y}" stroke="#e3e6dc"/>'
                     f'<text x="{left_margin - 4}" y="{y + 4}" font-size="10" text-anchor="end" fill="#556">'
                     f'{escape(format_value(top * fraction if fraction else 0))}</text>')
    if series:
        slot = plot_width / len(series)
        for index, (label, value) in enumerate(series):
            bar_height = round(plot_height * value / top, 1)
            x = round(left_margin + index * slot + slot * 0.15, 1)
            parts.append(f'<rect class="bar" x="{x}" y="{round(top_margin + plot_height - bar_height, 1)}" '
                         f'width="{round(slot * 0.7, 1)}" height="{bar_height}" fill="#2f6b2f" '
                         f'data-label="{escape(label)}" data-value="{value}">'
                         f'<title>{escape(label)}: {escape(format_value(value))}</title></rect>')
        step = max(1, -(-len(series) // 12))
        for index in range(0, len(series), step):
            x = round(left_margin + index * slot + slot / 2, 1)
            parts.append(f'<text x="{x}" y="{height - 8}" font-size="10" text-anchor="middle" fill="#556">'
                         f'{escape(series[index][0])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bar_chart(series: list[tuple[str, int | float]], *, title: str, chart_id: str, format_value=str,
                         empty_text: str = "—", highest_text: str = "max {label}: {value}", width: int = 640,
                         row_height: int = 22) -> Markup:
    """One labelled bar per row (cooperatives, categories, statuses), its value written after it."""
    top_margin, label_width, value_width = 30, 210, 110
    height = top_margin + max(1, len(series)) * row_height + 8
    plot_width = width - label_width - value_width
    top = max((value for _label, value in series), default=0) or 1
    parts = _svg_open(width, height, title, _summary(series, format_value, empty_text, highest_text), chart_id)
    if not series:
        parts.append(f'<text x="8" y="{top_margin + 14}" font-size="12" fill="#556">{escape(empty_text)}</text>')
    for index, (label, value) in enumerate(series):
        y = top_margin + index * row_height
        bar_width = round(plot_width * value / top, 1)
        short = label if len(label) <= 32 else label[:31] + "…"
        parts.append(f'<text x="{label_width - 6}" y="{y + row_height * 0.68}" font-size="11" text-anchor="end" fill="#223">'
                     f'{escape(short)}</text>'
                     f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{bar_width}" height="{row_height - 6}" '
                     f'fill="#2f6b2f" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {escape(format_value(value))}</title></rect>'
                     f'<text x="{label_width + bar_width + 4}" y="{y + row_height * 0.68}" font-size="11" fill="#556">'
                     f'{escape(format_value(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
