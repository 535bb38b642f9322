"""Small charts drawn on the server as SVG (no script, nothing fetched from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def bar_chart(points: Sequence[tuple[str, float]], *, title: str, width: int = 560, height: int = 180,
              percent: bool = False) -> SafeString:
    """A bar per (label, value); labels and the title are escaped."""
    pad_l, pad_b, pad_t = 36, 28, 22
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    top = 1.0 if percent else max([v for _, v in points] + [1])
    n = max(len(points), 1)
    slot = inner_w / n
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="{pad_l}" y="14" class="chart-title">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" y2="{pad_t + inner_h}" class="axis"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end" class="tick">{_fmt(top, percent)}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + inner_h}" text-anchor="end" class="tick">0</text>']
    if not points:
        parts.append(f'<text x="{pad_l + 8}" y="{pad_t + inner_h / 2}" class="tick">no data yet</text>')
    every = max(1, n // 10)
    for i, (label, value) in enumerate(points):
        h = inner_h * (value / top if top else 0)
        x = pad_l + i * slot + slot * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                     f'class="bar"><title>{escape(label)}: {_fmt(value, percent)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" class="tick">'
                         f'{escape(label)}</text>')
    parts.append("</svg>")
    # Every interpolated text above is escaped; numbers are formatted here.
    return mark_safe("".join(parts))


def _fmt(value: float, percent: bool) -> str:
    return f"{value * 100:.0f}%" if percent else (f"{value:.0f}" if value == int(value) else f"{value:.2f}")
