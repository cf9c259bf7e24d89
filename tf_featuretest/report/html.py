"""The report page: ``index.html`` with its PNG figures beside it, and ``results.json``.

:func:`write_report` renders a list of :class:`Section` objects into one self-contained page (no
network: inline CSS and images referenced by relative path, so it opens from disk; the only script
is a section's own ``html`` block, such as the feature section's review buttons),
and writes the machine-readable results next to it. Both files are written to a temporary file and
renamed, so a failure never leaves half a report.

Example:
    >>> sec = Section("classifier", "Classifier", "The model gets 98% of test digits right.",
    ...               figures=[("classifier/confusion.png", "Confusion matrix")])
    >>> write_report("reports/digits", {"accuracy": 0.98}, [sec])
    'reports/digits/index.html'
"""
from __future__ import annotations

import html
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .._util.io import atomic_write, dumps_json
from ..errors import ConfigError

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Table:
    """A table in a section.

    Args:
        columns: column headings.
        rows: rows of cells (numbers are formatted, None shows as a dash).
        caption: a line shown above the table.
    """

    columns: tuple
    rows: tuple
    caption: str = ""

    def __post_init__(self):
        cols = tuple(str(c) for c in self.columns)
        rows = tuple(tuple(r) for r in self.rows)
        bad = [i for i, r in enumerate(rows) if len(r) != len(cols)]
        if not cols:
            raise ConfigError("a table needs at least one column")
        if bad:
            raise ConfigError(f"table {self.caption!r}: row {bad[0]} has {len(rows[bad[0]])} cells for "
                              f"{len(cols)} columns")
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "rows", rows)

    def to_dict(self) -> dict:
        return {"caption": self.caption, "columns": list(self.columns), "rows": [list(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, d: dict) -> Table:
        return cls(tuple(d["columns"]), tuple(tuple(r) for r in d["rows"]), str(d.get("caption", "")))


@dataclass(frozen=True)
class Section:
    """One section of the report.

    Args:
        id: anchor id (letters, digits, ``-`` and ``_``, starting with a letter).
        title: heading.
        reading: one plain-language paragraph saying what the section shows.
        figures: ``(png path relative to the report folder, caption)`` pairs.
        tables: :class:`Table` objects.
        error: for a stage that failed, its one-line error; the section is shown as failed.
        warnings: lines shown in a warning box at the top of the section (e.g. a failed health check).
        html: a block of trusted HTML (made and escaped by a section writer, e.g. review buttons),
            shown after the tables.
    """

    id: str
    title: str
    reading: str = ""
    figures: tuple = ()
    tables: tuple = ()
    error: str | None = None
    warnings: tuple = ()
    html: str = ""

    def __post_init__(self):
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise ConfigError(f"section id must start with a letter and use only letters, digits, '-' and '_', "
                              f"got {self.id!r}")
        figures = tuple((str(p), str(c)) for p, c in self.figures)
        tables = tuple(self.tables)
        if any(not isinstance(t, Table) for t in tables):
            raise ConfigError(f"section {self.id!r}: tables must be Table objects")
        object.__setattr__(self, "figures", figures)
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "reading": self.reading,
                "figures": [{"path": p, "caption": c} for p, c in self.figures],
                "tables": [t.to_dict() for t in self.tables], "error": self.error, "warnings": list(self.warnings),
                "html": self.html}

    @classmethod
    def from_dict(cls, d: dict) -> Section:
        return cls(str(d["id"]), str(d["title"]), str(d.get("reading", "")),
                   tuple((f["path"], f["caption"]) for f in d.get("figures", ())),
                   tuple(Table.from_dict(t) for t in d.get("tables", ())), d.get("error"),
                   tuple(d.get("warnings", ())), str(d.get("html", "")))


def _check_figures(out_dir: str, sections) -> dict:
    """Raise unless every figure is a readable image inside ``out_dir``; return path -> (width, height)."""
    from PIL import Image, UnidentifiedImageError

    sizes = {}
    root = os.path.realpath(out_dir)
    for sec in sections:
        for rel, _ in sec.figures:
            if os.path.isabs(rel) or "\\" in rel:
                raise ConfigError(f"section {sec.id!r}: figure path must be relative to the report folder, got {rel!r}")
            full = os.path.realpath(os.path.join(root, rel))
            if not full.startswith(root + os.sep):
                raise ConfigError(f"section {sec.id!r}: figure {rel!r} lies outside the report folder")
            if not os.path.isfile(full):
                raise ConfigError(f"section {sec.id!r}: figure not found: {os.path.join(out_dir, rel)}")
            try:
                with Image.open(full) as im:
                    sizes[rel] = im.size
            except (UnidentifiedImageError, OSError):
                raise ConfigError(f"section {sec.id!r}: figure is not a readable image: "
                                  f"{os.path.join(out_dir, rel)}") from None
    return sizes


def format_cell(value) -> str:
    """A table cell as text: floats to 4 significant digits, None/NaN as a dash."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return "\u2014"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


_CSS = """
:root { --ink:#1d232b; --muted:#5a6672; --line:#d9dee4; --bg:#f6f7f9; --card:#fff; --accent:#0072B2;
        --bad:#b3261e; --badbg:#fdecea; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#14304a; color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 6px; font-size:28px; font-weight:650; letter-spacing:.2px; }
header p { margin:0; color:#c9d6e3; }
.layout { display:flex; gap:32px; max-width:1320px; margin:0 auto; padding:24px 32px 64px; align-items:flex-start; }
nav { position:sticky; top:16px; flex:0 0 220px; background:var(--card); border:1px solid var(--line);
      border-radius:8px; padding:16px 18px; font-size:14px; }
nav h2 { font-size:13px; text-transform:uppercase; letter-spacing:.08em; color:var(--muted); margin:0 0 8px; }
nav ol { margin:0; padding-left:20px; } nav li { margin:4px 0; }
nav a { color:var(--accent); text-decoration:none; } nav a:hover { text-decoration:underline; }
nav .failed a { color:var(--bad); }
main { flex:1; min-width:0; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:22px 28px 26px;
          margin-bottom:24px; }
section h2 { margin:0 0 10px; font-size:22px; }
section.failed { border-color:var(--bad); }
.reading { max-width:80ch; margin:0 0 18px; }
.error { background:var(--badbg); color:var(--bad); border-left:4px solid var(--bad); padding:10px 14px;
         border-radius:4px; margin:0 0 16px; font-family:ui-monospace,Menlo,Consolas,monospace; font-size:14px;
         white-space:pre-wrap; }
.figures { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:18px; margin:8px 0 18px;
           align-items:start; }
figure { margin:0; border:1px solid var(--line); border-radius:6px; padding:10px; background:#fff; }
figure.wide { grid-column:1 / -1; }
figure img { display:block; max-width:100%; height:auto; margin:0 auto; }
figcaption { color:var(--muted); font-size:14px; margin-top:8px; }
.table-wrap { overflow-x:auto; margin:8px 0 18px; }
table { border-collapse:collapse; font-size:14px; min-width:40%; }
caption { text-align:left; color:var(--muted); padding-bottom:6px; }
th, td { padding:5px 12px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
thead th { background:#eef2f6; font-weight:600; }
tbody tr:nth-child(even) { background:#fafbfc; }
dl.summary { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; font-size:14px; }
dl.summary dt { color:var(--muted); } dl.summary dd { margin:0; }
.warning { background:#fff4e5; color:#7a4100; border-left:4px solid #e08a00; padding:10px 14px; border-radius:4px;
           margin:0 0 12px; font-size:15px; }
footer { color:var(--muted); font-size:13px; text-align:center; padding:0 0 32px; }
@media (max-width: 900px) { .layout { flex-direction:column; padding:16px; } nav { position:static; width:100%; } }
"""


def _table_html(t: Table) -> str:
    esc = html.escape
    head = "".join(f"<th scope=\"col\">{esc(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(format_cell(v))}</td>" for v in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{esc(t.caption)}</caption>" if t.caption else ""
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure_html(rel, caption, size) -> str:
    esc = html.escape
    width, height = size or (0, 0)
    wide = ' class="wide"' if width > 1.9 * max(height, 1) or width > 900 else ""
    dims = f' width="{width}" height="{height}"' if size else ""
    return (f'<figure{wide}><img src="{esc(_url(rel))}" alt="{esc(caption)}"{dims}>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _section_html(sec: Section, sizes=None) -> str:
    esc = html.escape
    cls = ' class="failed"' if sec.error else ""
    parts = [f'<section id="{esc(sec.id)}"{cls}>',
             f"<h2>{esc(sec.title)}{' (failed)' if sec.error else ''}</h2>"]
    if sec.error:
        parts.append(f'<p class="error" role="alert">This stage failed: {esc(sec.error)}</p>')
    for w in sec.warnings:
        parts.append(f'<p class="warning" role="alert">Warning: {esc(w)}</p>')
    if sec.reading:
        parts.append(f'<p class="reading">{esc(sec.reading)}</p>')
    if sec.figures:
        figs = "".join(_figure_html(p, c, (sizes or {}).get(p)) for p, c in sec.figures)
        parts.append(f'<div class="figures">{figs}</div>')
    parts.extend(_table_html(t) for t in sec.tables)
    if sec.html:
        parts.append(sec.html)
    parts.append("</section>")
    return "\n".join(parts)


def _url(rel: str) -> str:
    from urllib.parse import quote

    return quote(rel.replace(os.sep, "/"))


def render_html(sections, *, title: str = "tf-featuretest report", subtitle: str = "", summary=None,
                sizes=None) -> str:
    """The page as a string (see :func:`write_report`); ``sizes`` maps figure paths to pixel sizes."""
    esc = html.escape
    toc = "".join(f'<li class="failed"><a href="#{esc(s.id)}">{esc(s.title)}</a> (failed)</li>' if s.error
                  else f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    summary_html = ""
    if summary:
        rows = "".join(f"<dt>{esc(str(k))}</dt><dd>{esc(format_cell(v))}</dd>" for k, v in summary.items())
        summary_html = f'<section id="summary"><h2>Summary</h2><dl class="summary">{rows}</dl></section>'
    body = "\n".join(_section_html(s, sizes) for s in sections)
    failed = sum(1 for s in sections if s.error)
    status = f"{len(sections)} sections" + (f", {failed} failed" if failed else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><h1>{esc(title)}</h1><p>{esc(subtitle or status)}</p></header>
<div class="layout">
<nav aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol>
<p><a href="results.json">results.json</a></p></nav>
<main>
{summary_html}
{body}
</main>
</div>
<footer>Written by tf-featuretest. All numbers are in results.json beside this page.</footer>
</body>
</html>
"""


def write_report(out_dir: str, results: dict, sections, *, title: str = "tf-featuretest report",
                 subtitle: str = "", summary: dict | None = None) -> str:
    """Write ``index.html`` and ``results.json`` into ``out_dir``.

    Args:
        out_dir: the report folder; figures must already be inside it.
        results: all numbers, made JSON-safe by :func:`~tf_featuretest._util.io.to_jsonable` (NaN becomes null).
        sections: :class:`Section` objects, in page order, with unique ids.
        title: page title and heading.
        subtitle: line under the heading (default: the section count and failures).
        summary: key/value pairs shown at the top (e.g. data set, model, accuracy).

    Returns:
        The path of ``index.html``.

    Raises:
        ConfigError: a figure is missing or outside ``out_dir``, a section id repeats, or a
            result cannot be written as JSON. Nothing is written then.
    """
    sections = list(sections)
    if any(not isinstance(s, Section) for s in sections):
        raise ConfigError("sections must be Section objects")
    ids = [s.id for s in sections] + (["summary"] if summary else [])
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"section id {dup[0]!r} is used more than once")
    if not isinstance(results, dict):
        raise ConfigError(f"results must be a dict, got {type(results).__name__}")
    os.makedirs(out_dir, exist_ok=True)
    sizes = _check_figures(out_dir, sections)
    payload = dumps_json(results, indent=2, sort_keys=True)
    page = render_html(sections, title=title, subtitle=subtitle, summary=summary, sizes=sizes)
    atomic_write(os.path.join(out_dir, "results.json"), payload + "\n")
    index = os.path.join(out_dir, "index.html")
    atomic_write(index, page)
    return index
