"""The report's charts as inline SVG strings (no script, no external asset): a squarified treemap,
stacked bars, a waterfall.  Colours are CSS classes (``c-app``, ``c-junk``...) so the page's
stylesheet themes them for light, dark and print.  Every text is escaped."""

from __future__ import annotations

from markupsafe import Markup, escape

from imgopt.progress import human


def _svg(width: float, height: float, body: list[str], label: str) -> Markup:
    return Markup(f'<svg viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}" '
                  f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
                  + "".join(body) + "</svg>")


# ------------------------------------------------------------------ treemap


def squarify(values: list[float], x: float, y: float, w: float, h: float) -> list[tuple[float, float, float, float]]:
    """Rectangles for ``values`` (sorted largest first) filling (x, y, w, h): Bruls, Huizing and van Wijk's
    squarified layout (rows laid along the shorter side while the worst aspect ratio improves)."""
    total = sum(values)
    if total <= 0 or w <= 0 or h <= 0:
        return [(x, y, 0.0, 0.0) for _ in values]
    scale = w * h / total
    areas = [v * scale for v in values]
    out: list[tuple[float, float, float, float]] = []
    i = 0
    while i < len(areas):
        side = min(w, h)
        row = [areas[i]]
        i += 1

        def worst(r: list[float]) -> float:
            s = sum(r)
            return max(max(side * side * a / (s * s), (s * s) / (side * side * a)) for a in r if a > 0) if s else 0

        while i < len(areas) and worst(row + [areas[i]]) <= worst(row):
            row.append(areas[i])
            i += 1
        s = sum(row)
        if w >= h:  # the row is a column on the left
            cw = s / h if h else 0
            cy = y
            for a in row:
                ch = a / cw if cw else 0
                out.append((x, cy, cw, ch))
                cy += ch
            x, w = x + cw, w - cw
        else:  # a row along the top
            rh = s / w if w else 0
            cx = x
            for a in row:
                cw2 = a / rh if rh else 0
                out.append((cx, y, cw2, rh))
                cx += cw2
            y, h = y + rh, h - rh
    return out


def treemap(directories, width: float = 960, height: float = 520, depth: int = 3) -> Markup:
    """The final filesystem's directories (analysis ``directories``: /, then down to 4 levels) nested
    ``depth`` levels deep; a directory's files directly in it and its left-out children show as its
    own remainder.  Colour: the junk share."""
    by_parent: dict[str, list] = {}
    root = None
    for d in directories:
        if d.path == "/":
            root = d
            continue
        parent = d.path.rsplit("/", 1)[0] or "/"
        by_parent.setdefault(parent, []).append(d)
    if root is None or root.bytes <= 0:
        return _svg(width, 40, ['<text x="8" y="24" class="t-muted">no files</text>'], "empty treemap")
    body: list[str] = []

    def draw(node, x, y, w, h, level):
        kids = sorted(by_parent.get(node.path, []), key=lambda d: -d.bytes)
        rest = node.bytes - sum(k.bytes for k in kids)
        items = kids + ([None] if rest > 0 and kids else [])
        vals = [k.bytes if k is not None else rest for k in items]
        pad_top = 16 if level > 0 and h > 40 and w > 60 else 0
        rects = squarify(vals, x + 1, y + 1 + pad_top, w - 2, h - 2 - pad_top) if items else []
        for k, (rx, ry, rw, rh) in zip(items, rects):
            if rw < 1 or rh < 1:
                continue
            if k is None:
                body.append(f'<rect x="{rx:.1f}" y="{ry:.1f}" width="{rw:.1f}" height="{rh:.1f}" class="tm-rest">'
                            f'<title>{escape(node.path)} (files here and small directories): {human(rest)}</title>'
                            "</rect>")
                continue
            share = k.junk_bytes / k.bytes if k.bytes else 0
            cls = "tm-junk" if share >= 0.5 else "tm-mixed" if share >= 0.1 else "tm-app"
            body.append(f'<g class="tm-node" data-path="{escape(k.path)}" data-bytes="{k.bytes}">'
                        f'<rect x="{rx:.1f}" y="{ry:.1f}" width="{rw:.1f}" height="{rh:.1f}" class="{cls} l{level}">'
                        f"<title>{escape(k.path)}: {human(k.bytes)}, {k.files} files, junk {human(k.junk_bytes)}"
                        "</title></rect>")
            if rw > 46 and rh > 15:
                name = k.path.rsplit("/", 1)[1] if level else k.path
                maxch = int(rw / 6.6)
                label = name if len(name) <= maxch else name[: max(1, maxch - 1)] + "…"
                body.append(f'<text x="{rx + 4:.1f}" y="{ry + 12:.1f}" class="tm-label">{escape(label)}</text>')
                if rh > 30 and rw > 60:
                    body.append(f'<text x="{rx + 4:.1f}" y="{ry + 25:.1f}" class="tm-size">{human(k.bytes)}</text>')
            body.append("</g>")
            if level + 1 < depth and rw > 30 and rh > 30:
                draw(k, rx, ry + (18 if rh > 60 else 0), rw, rh - (18 if rh > 60 else 0), level + 1)

    draw(root, 0, 0, width, height, 0)
    return _svg(width, height, body, "treemap of the largest directories")


# ------------------------------------------------------------------ stacked bars


def layer_bars(bars, width: float = 960) -> Markup:
    """One row per layer: app / junk / waste bytes, scaled to the largest layer."""
    row, label_w, gap = 26, 64, 6
    biggest = max((b.file_bytes for b in bars), default=0) or 1
    span = width - label_w - 110
    body = []
    for i, b in enumerate(bars):
        y = i * (row + gap)
        body.append(f'<g class="layer-bar" data-layer="{b.index}"><text x="0" y="{y + 17}" class="t-label">layer '
                    f"{b.index}</text>")
        x = label_w
        for cls, v, name in (("c-app", b.app_bytes, "app"), ("c-junk", b.junk_bytes, "junk"),
                             ("c-waste", b.waste_bytes, "waste")):
            w = span * v / biggest
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{row}" class="{cls}">'
                            f"<title>layer {b.index} {name}: {human(v)}</title></rect>")
            x += w
        body.append(f'<text x="{x + 6:.1f}" y="{y + 17}" class="t-value">{human(b.file_bytes)}</text></g>')
    return _svg(width, max(1, len(bars)) * (row + gap), body, "layer sizes split into app, junk and waste")


def split_bar(parts: list[tuple[str, float, str]], width: float = 960, height: float = 28) -> Markup:
    """One bar split into ``parts`` [(css class, value, label)]."""
    total = sum(v for _, v, _ in parts) or 1
    x, body = 0.0, []
    for cls, v, label in parts:
        w = width * v / total
        if w <= 0:
            continue
        body.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" class="{cls}"><title>'
                    f"{escape(label)}: {human(v)}</title></rect>")
        if w > 120:
            body.append(f'<text x="{x + 6:.1f}" y="{height / 2 + 5:.0f}" class="t-on-bar">{escape(label)} '
                        f"{human(v)}</text>")
        x += w
    return _svg(width, height, body, ", ".join(f"{label} {human(v)}" for _, v, label in parts))


def totals(scenarios, width: float = 960) -> Markup:
    """Cold pull + start per scenario: pull and start seconds stacked, one row each."""
    row, gap, label_w = 22, 6, 250
    longest = max((s.total_s for s in scenarios), default=0) or 1
    span = width - label_w - 70
    body = []
    for i, s in enumerate(scenarios):
        y = i * (row + gap)
        name = f"{s.image} · {s.registry} · {s.mode}"
        body.append(f'<g class="total" data-total="{s.total_s}"><text x="0" y="{y + 15}" class="t-label">'
                    f"{escape(name)}</text>")
        wp = span * s.pull_s / longest
        ws = span * s.start_s / longest
        body.append(f'<rect x="{label_w}" y="{y}" width="{max(wp, 0.5):.1f}" height="{row}" class="c-network">'
                    f"<title>pull {s.pull_s:.2f} s</title></rect>")
        body.append(f'<rect x="{label_w + wp:.1f}" y="{y}" width="{max(ws, 0.5):.1f}" height="{row}" class="c-app">'
                    f"<title>start {s.start_s:.2f} s</title></rect>")
        body.append(f'<text x="{label_w + wp + ws + 6:.1f}" y="{y + 15}" class="t-value">{s.total_s:.2f} s</text></g>')
    return _svg(width, max(1, len(scenarios)) * (row + gap), body, "cold start per scenario")


# ------------------------------------------------------------------ waterfall

CATEGORY_CLASS = {"network": "c-network", "cpu": "c-cpu", "start": "c-start", "app": "c-app"}


def waterfall(s, width: float = 960, scale_to: float | None = None, max_rows: int = 60) -> Markup:
    """The scenario's timeline rows as bars on a shared time axis (``scale_to`` seconds wide)."""
    rows = [r for r in s.timeline if r["end"] > r["start"] or r["task"] in ("image pulled", "app ready")]
    if len(rows) > max_rows:  # keep the longest, in time order
        keep = set(id(r) for r in sorted(rows, key=lambda r: -(r["end"] - r["start"]))[:max_rows])
        rows = [r for r in rows if id(r) in keep]
    end = scale_to or max((r["end"] for r in rows), default=1.0) or 1.0
    label_w, row, gap, axis = 230, 14, 3, 22
    span = width - label_w - 60
    body = []
    for k in range(0, 6):
        t = end * k / 5
        x = label_w + span * k / 5
        body.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{len(rows) * (row + gap)}" class="grid"/>'
                    f'<text x="{x:.1f}" y="{len(rows) * (row + gap) + 15}" class="t-axis">{t:.2f} s</text>')
    for i, r in enumerate(rows):
        y = i * (row + gap)
        x0 = label_w + span * r["start"] / end
        w = max(span * (r["end"] - r["start"]) / end, 1.0)
        label = r["task"] if len(r["task"]) <= 34 else r["task"][:33] + "…"
        cls = CATEGORY_CLASS.get(r["category"], "c-mark")
        body.append(f'<text x="0" y="{y + 11}" class="t-small">{escape(label)}</text>'
                    f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{row}" class="{cls}"><title>'
                    f'{escape(r["task"])}: {r["start"]:.3f}-{r["end"]:.3f} s (busy {r["busy"]:.3f} s)</title></rect>')
    return _svg(width, len(rows) * (row + gap) + axis, body,
                f"waterfall: {s.image} image, {s.registry} registry, {s.mode} pull, {s.total_s:.2f} s")


__all__ = ["squarify", "treemap", "layer_bars", "split_bar", "totals", "waterfall"]
