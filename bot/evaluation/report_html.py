"""The evaluation report's markdown rendered as one standalone HTML page (no external resources: readable offline)."""

from __future__ import annotations

import html

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def _inline(text: str) -> str:
    """Escape, then turn ``**bold**`` into ``<b>`` (the only inline markup the markdown report uses)."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _block(line: str) -> str:
    """One non-table, non-list markdown line as HTML: a heading, an image or a paragraph."""
    if line.startswith("## "):
        return f"<h2>{_inline(line[3:])}</h2>"
    if line.startswith("# "):
        return f"<h1>{_inline(line[2:])}</h1>"
    if line.startswith("!["):
        alt, src = line[2:].split("](", 1)
        return f'<img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}">'
    return f"<p>{_inline(line)}</p>"


def markdown_to_html(title: str, markdown: str) -> str:
    """Render the report's markdown (headings, tables, images, lists, paragraphs) as a standalone HTML page."""
    out: list[str] = []
    table: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            head = "".join(f"<th>{_inline(c)}</th>" for c in table[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in table[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table.append(cells)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line:
            out.append(_block(line))
    flush()
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )
