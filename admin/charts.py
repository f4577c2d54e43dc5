"""Charts drawn on the server as SVG text: no script, no network, every label escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

# Colour per priority rank (most urgent first) and a neutral palette for anything else.
PRIORITY_COLOURS = ("#c0392b", "#e67e22", "#f1c40f", "#27ae60", "#2980b9", "#8e44ad")
FONT = "font-family='system-ui, sans-serif'"


def _svg(width: float, height: float, body: list[str], title: str) -> Markup:
    """Wrap body in an accessible svg element of the given size."""
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"width='100%' role='img' aria-label='{escape(title)}' "
        f"{FONT} font-size='11'><title>{escape(title)}</title>"
    )
    # Every piece of text in body went through escape() where it was made.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def _share_colour(share: float) -> str:
    """Return a blue whose depth is the share (0 white, 1 dark blue)."""
    share = min(max(share, 0.0), 1.0)
    r = round(247 - share * (247 - 8))
    g = round(251 - share * (251 - 69))
    b = round(255 - share * (255 - 148))
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]], *, title: str) -> Markup:
    """Draw a confusion matrix: rows are true classes, colour is the share of the row."""
    n = len(labels)
    cell = 34 if n <= 12 else 14
    font = 11 if n <= 12 else 8
    margin = min(max((len(str(label)) for label in labels), default=1), 28) * font * 0.62 + 24
    width = margin + n * cell + 20
    height = margin + n * cell + 40
    body = [
        f"<text x='{width / 2:.0f}' y='16' text-anchor='middle' font-size='13'>"
        f"{escape(title)}</text>"
    ]
    top = 28.0
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            x, y = margin + j * cell, top + i * cell
            share = count / total
            body.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{cell}' height='{cell}' "
                f"fill='{_share_colour(share)}' stroke='#ddd'><title>true {escape(labels[i])}, "
                f"predicted {escape(labels[j])}: {count}</title></rect>"
            )
            if count and n <= 40:
                colour = "white" if share > 0.5 else "black"
                body.append(
                    f"<text x='{x + cell / 2:.1f}' y='{y + cell / 2 + font / 3:.1f}' "
                    f"text-anchor='middle' font-size='{font}' fill='{colour}'>{count}</text>"
                )
    for i, label in enumerate(labels):
        short = escape(str(label)[:28])
        y = top + i * cell + cell / 2 + font / 3
        body.append(
            f"<text x='{margin - 4:.1f}' y='{y:.1f}' text-anchor='end' "
            f"font-size='{font}'>{short}</text>"
        )
        x = margin + i * cell + cell / 2 + font / 3
        ly = top + n * cell + 4
        body.append(
            f"<text x='{x:.1f}' y='{ly:.1f}' text-anchor='end' font-size='{font}' "
            f"transform='rotate(-90 {x:.1f} {ly:.1f})'>{short}</text>"
        )
    body.append(f"<text x='4' y='{top + n * cell / 2:.0f}' font-size='10'>true</text>")
    body.append(
        f"<text x='{margin + n * cell / 2:.0f}' y='{height - 4:.0f}' text-anchor='middle' "
        "font-size='10'>predicted</text>"
    )
    return _svg(width, height + margin - 40, body, title)


def line_svg(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    percent: bool = True,
) -> Markup:
    """Draw one series over time (label per point; None leaves a gap), y from zero."""
    left, right, top, bottom = 44, 12, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points if v is not None]
    peak = max(values, default=0.0)
    y_max = max(peak * 1.15, 0.05 if percent else 1.0)
    body = [f"<text x='{left}' y='14' font-size='12'>{escape(title)}</text>"]
    for k in range(5):
        value = y_max * k / 4
        y = top + plot_h - plot_h * k / 4
        text = f"{value:.0%}" if percent else f"{value:.3g}"
        body.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>"
            f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end' fill='#555'>{text}</text>"
        )
    if not points:
        body.append(
            f"<text x='{left + plot_w / 2}' y='{top + plot_h / 2}' text-anchor='middle' "
            "fill='#777'>no data yet</text>"
        )
        return _svg(width, height, body, title)
    step = plot_w / max(len(points) - 1, 1)
    segments: list[list[str]] = [[]]
    every = max(1, len(points) // 8)
    for i, (label, value) in enumerate(points):
        x = left + i * step
        if i % every == 0 or i == len(points) - 1:
            body.append(
                f"<text x='{x:.1f}' y='{height - 18}' text-anchor='middle' fill='#555' "
                f"font-size='10'>{escape(label)}</text>"
            )
        if value is None:
            segments.append([])
            continue
        y = top + plot_h - plot_h * value / y_max
        segments[-1].append(f"{x:.1f},{y:.1f}")
        shown = f"{value:.1%}" if percent else f"{value:.3g}"
        body.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#2980b9'>"
            f"<title>{escape(label)}: {shown}</title></circle>"
        )
    for seg in segments:
        if len(seg) > 1:
            body.append(
                f"<polyline points='{' '.join(seg)}' fill='none' stroke='#2980b9' "
                "stroke-width='2'/>"
            )
    return _svg(width, height, body, title)


def stacked_bars_svg(
    groups: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    width: int = 640,
    bar_height: int = 22,
) -> Markup:
    """Draw one horizontal bar per group, stacked by series (e.g. queues by priority)."""
    left = min(max((len(g) for g in groups), default=4), 30) * 7 + 16
    right, top = 40, 40
    height = top + len(groups) * (bar_height + 8) + 10
    totals = [sum(values[i] for values in series.values()) for i in range(len(groups))]
    peak = max(totals, default=0) or 1
    plot_w = width - left - right
    body = [f"<text x='4' y='14' font-size='12'>{escape(title)}</text>"]
    legend_x = 4.0
    for k, name in enumerate(series):
        colour = PRIORITY_COLOURS[k % len(PRIORITY_COLOURS)]
        body.append(
            f"<rect x='{legend_x:.0f}' y='22' width='10' height='10' fill='{colour}'/>"
            f"<text x='{legend_x + 14:.0f}' y='31'>{escape(name)}</text>"
        )
        legend_x += 14 + len(name) * 7 + 14
    for i, group in enumerate(groups):
        y = top + i * (bar_height + 8)
        body.append(
            f"<text x='{left - 6}' y='{y + bar_height / 2 + 4:.0f}' text-anchor='end'>"
            f"{escape(group[:30])}</text>"
        )
        x = float(left)
        for k, (name, values) in enumerate(series.items()):
            count = values[i]
            if not count:
                continue
            w = plot_w * count / peak
            colour = PRIORITY_COLOURS[k % len(PRIORITY_COLOURS)]
            body.append(
                f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_height}' "
                f"fill='{colour}'><title>{escape(group)}, {escape(name)}: {count}</title></rect>"
            )
            x += w
        body.append(f"<text x='{x + 4:.1f}' y='{y + bar_height / 2 + 4:.0f}'>{totals[i]}</text>")
    return _svg(width, height, body, title)
