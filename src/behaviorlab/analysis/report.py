"""One self-contained HTML report: text, tables and charts embedded as base64 PNGs."""

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { border-bottom: 2px solid #2f6690; padding-bottom: .3em; }
h2 { color: #2f6690; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f0f4f8; }
img { max-width: 100%; margin: .5em 0 1.5em; border: 1px solid #eee; }
.brief { background: #f8f8f4; border-left: 4px solid #d9822b; padding: .2em 1em; }
nav a { margin-right: 1em; }
"""
LIST_ITEM = re.compile(r"^(- |\d+\. )")


@dataclass
class Section:
    """One analysis in the report."""

    title: str
    text: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)


def render_markdown(text: str) -> str:
    """The small Markdown subset the briefs use: headings, lists, bold, paragraphs."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(LIST_ITEM.match(line) for line in lines):
            tag = "ul" if lines[0].startswith("- ") else "ol"
            items = "".join(f"<li>{_inline(LIST_ITEM.sub('', line))}</li>" for line in lines)
            blocks.append(f"<{tag}>{items}</{tag}>")
        elif lines[0].startswith("#"):
            level = min(len(lines[0]) - len(lines[0].lstrip("#")) + 2, 6)
            blocks.append(f"<h{level}>{_inline(lines[0].lstrip('# '))}</h{level}>")
            if lines[1:]:
                blocks.append(render_markdown("\n".join(lines[1:])))
        else:
            blocks.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(blocks)


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def embed_png(path: Path) -> str:
    """An <img> whose source is the PNG itself, so the report travels as one file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def format_number(value: float) -> str:
    """Readable numbers: shares and scores with 3 decimals, large amounts with separators."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3f}"


def render_table(frame: pd.DataFrame, max_rows: int = 30) -> str:
    """A compact HTML table; long tables are cut with a note (the full one is a file)."""
    shown = frame.head(max_rows)
    table = shown.to_html(index=False, float_format=format_number, na_rep="", border=0)
    if len(frame) > max_rows:
        table += (
            f"<p><em>first {max_rows} of {len(frame):,} rows; full table in the files.</em></p>"
        )
    return table


def render_report(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole report as one HTML string."""
    anchors = [re.sub(r"[^a-z0-9]+", "-", section.title.lower()) for section in sections]
    nav = " ".join(
        f'<a href="#{anchor}">{html.escape(section.title)}</a>'
        for anchor, section in zip(anchors, sections, strict=True)
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p><nav>{nav}</nav>",
    ]
    for anchor, section in zip(anchors, sections, strict=True):
        parts.append(f'<h2 id="{anchor}">{html.escape(section.title)}</h2>')
        if section.text:
            parts.append(f'<div class="brief">{render_markdown(section.text)}</div>')
        parts.extend(embed_png(chart) for chart in section.charts)
        for caption, frame in section.tables:
            parts.append(f"<h4>{html.escape(caption)}</h4>{render_table(frame)}")
    parts.append("</body></html>")
    return "\n".join(parts)
