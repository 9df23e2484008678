# Copyright (c) ifam_mm contributors. All rights reserved.
"""A self-contained HTML page of a run: table, checks, charts, galleries.

The page holds no script and loads nothing from the network: every image is
a PNG beside it, linked by a relative path, so the folder can be copied or
archived and opened with ``file://``.
"""
import html
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple
from urllib.parse import quote

# Galleries: (heading, [(image path, caption), ...]).
Gallery = Tuple[str, Sequence[Tuple[str, str]]]

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; background: #fff; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; }
th { background: #eee; }
img.chart { max-width: 100%; }
.row { display: flex; flex-wrap: wrap; gap: 0.5em; }
figure { margin: 0; }
figure img { height: 160px; border: 1px solid #ccc; }
figcaption { font-size: small; max-width: 24em; overflow-wrap: anywhere; }
"""


def write_html_report(out_file: str,
                      title: str,
                      text: Sequence[str] = (),
                      table: Optional[Sequence[Sequence[str]]] = None,
                      checks: Sequence[str] = (),
                      charts: Sequence[Tuple[str, str]] = (),
                      galleries: Sequence[Gallery] = (),
                      links: Sequence[Tuple[str, str]] = ()) -> str:
    """Write an HTML page that shows a run's results and images.

    Paths are read from the current directory (or are absolute); the page
    links them relative to its own directory. Every text is escaped.

    Args:
        out_file (str): The page, e.g. ``DIR/index.html``.
        title (str): Its title and top heading.
        text (Sequence[str]): Paragraphs under the title. Defaults to ().
        table (Sequence[Sequence[str]], optional): Rows of cells, the first
            row the header. Defaults to None (no table).
        checks (Sequence[str]): A bulleted list under the table (e.g. the
            pass/fail bars). Defaults to ().
        charts (Sequence[tuple]): ``(heading, image path)`` pairs, each
            image shown whole. Defaults to ().
        galleries (Sequence[tuple]): ``(heading, items)`` pairs: a row of
            thumbnails per heading, one per ``(image path, caption)`` item,
            each a link to its full-size image. Defaults to ().
        links (Sequence[tuple]): ``(text, path)`` pairs, a list of links
            to further pages or files at the end. Defaults to ().

    Returns:
        str: ``out_file``.

    Raises:
        ValueError: If an image to show does not exist (the page would show
            it broken).

    Examples:
        >>> from ifam_mm.visualization import write_html_report
        >>> page = write_html_report(
        ...     'index.html', 'Run', table=[['model', 'WGA'], ['ifam', '.75']])
        >>> with open(page) as f:
        ...     '<td>.75</td>' in f.read()
        True
    """
    page_dir = osp.dirname(osp.abspath(out_file))

    def src(path: str) -> str:
        return _relative_url(path, page_dir, out_file)

    parts = [f'<h1>{_esc(title)}</h1>']
    parts += [f'<p>{_esc(paragraph)}</p>' for paragraph in text]
    if table:
        parts.append(_table(table))
    if checks:
        parts.append('<ul>' + ''.join(f'<li>{_esc(line)}</li>'
                                      for line in checks) + '</ul>')
    for heading, path in charts:
        parts.append(f'<h2>{_esc(heading)}</h2>\n<a href="{src(path)}">'
                     f'<img class="chart" src="{src(path)}" '
                     f'alt="{_esc(heading)}"></a>')
    for heading, items in galleries:
        parts.append(f'<h2>{_esc(heading)}</h2>')
        parts.append(_row(items, src) if items else '<p>(no image)</p>')
    if links:
        parts.append('<ul>' + ''.join(
            f'<li><a href="{src(path)}">{_esc(label)}</a></li>'
            for label, path in links) + '</ul>')
    page = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">'
            f'\n<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n'
            '</head>\n<body>\n' + '\n'.join(parts) + '\n</body>\n</html>\n')
    with open(out_file, 'w', encoding='utf-8') as f:
        f.write(page)
    return out_file


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _relative_url(path: str, page_dir: str, out_file: str) -> str:
    """``path`` relative to the page, as an escaped URL."""
    if not osp.isfile(path):
        raise ValueError(
            f'{path} does not exist, so {out_file} would show it broken. '
            'Write the image before the page, or leave it out of the page.')
    relative = osp.relpath(osp.abspath(path), page_dir).replace(os.sep, '/')
    return _esc(quote(relative))


def _table(rows: Sequence[Sequence[str]]) -> str:
    header, *body = rows
    lines: List[str] = ['<table>', '<tr>' + ''.join(
        f'<th>{_esc(cell)}</th>' for cell in header) + '</tr>']
    lines += [
        '<tr>' + ''.join(f'<td>{_esc(cell)}</td>' for cell in row) + '</tr>'
        for row in body
    ]
    return '\n'.join(lines + ['</table>'])


def _row(items: Sequence[Tuple[str, str]], src) -> str:
    figures = [
        f'<figure><a href="{src(path)}"><img src="{src(path)}" '
        f'alt="{_esc(caption)}"></a><figcaption>{_esc(caption)}'
        '</figcaption></figure>' for path, caption in items
    ]
    return '<div class="row">\n' + '\n'.join(figures) + '\n</div>'
