"""Notebook display helpers: tables, images, logs, policies, links, the architecture.

Each helper returns an object with both an HTML (or SVG) view for JupyterLab
and a plain-text view, which is what nbval compares and what a terminal shows.
``friendly_errors()``, called once in a notebook, makes a ``WalkthroughError``
(or an AWS error ``diagnose`` can explain) print as its one line instead of a
traceback.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any, Iterable, Mapping, Sequence

from walkthrough.diagnose import explain
from walkthrough.errors import WalkthroughError


class Table:
    """Rows of dicts (or one dict as key/value pairs) as an HTML table and aligned text."""

    def __init__(self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], title: str = "") -> None:
        if isinstance(rows, Mapping):
            rows = [{"": k, "value": v} for k, v in rows.items()]
        self.rows = [dict(r) for r in rows]
        self.title = title
        self.columns = list(dict.fromkeys(c for r in self.rows for c in r))

    @staticmethod
    def _cell(value: Any) -> str:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return ", ".join(value) if value else "none"  # a list of words reads as words
        if isinstance(value, (dict, list, tuple)):
            return json.dumps(value, default=str)
        if isinstance(value, bool):
            return "✔" if value else "✘"
        return "" if value is None else str(value)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(self._cell(r.get(c)))}</td>" for c in self.columns) + "</tr>"
            for r in self.rows
        )
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        cells = [[self._cell(r.get(c)) for c in self.columns] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(self.columns)]
        line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
        out = ([self.title] if self.title else []) + [line(self.columns), line(["-" * w for w in widths])]
        return "\n".join(out + [line(row) for row in cells])


def table(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], title: str = "") -> Table:
    return Table(rows, title)


def describe_image(data: bytes) -> dict[str, Any]:
    """Format, dimensions and size of encoded image bytes."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return {"format": img.format, "width": img.width, "height": img.height, "bytes": len(data)}


class Images:
    """Images side by side, each with a caption: format, dimensions, size.

    Two of ``max_width`` fit side by side in JupyterLab's output area beside its side bar
    (833 px with a 1280 px window); a narrower one puts them one under the other.
    """

    def __init__(self, items: Sequence[tuple[str, bytes]], max_width: int = 400) -> None:
        self.items = [(caption, data, describe_image(data)) for caption, data in items]
        self.max_width = max_width

    @staticmethod
    def _label(caption: str, info: Mapping[str, Any]) -> str:
        return f"{caption}: {info['format']} {info['width']}×{info['height']}, {info['bytes'] / 1024:.1f} KiB"

    def _repr_html_(self) -> str:
        figures = []
        for caption, data, info in self.items:
            mime = f"image/{(info['format'] or 'png').lower()}"
            src = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            figures.append(
                f"<figure style='margin:0 1em 1em 0;max-width:100%'><img src='{src}' style='max-width:min({self.max_width}px,100%);height:auto'>"
                f"<figcaption>{html.escape(self._label(caption, info))}</figcaption></figure>"
            )
        return "<div style='display:flex;flex-wrap:wrap;align-items:flex-start'>" + "".join(figures) + "</div>"

    def __repr__(self) -> str:
        return "\n".join(self._label(caption, info) for caption, _, info in self.items)


def images(*items: tuple[str, bytes]) -> Images:
    return Images(items)


class Text:
    """Preformatted text: log lines, JSON documents."""

    def __init__(self, text: str, title: str = "") -> None:
        self.text, self.title = text, title

    def _repr_html_(self) -> str:
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return f"{title}<pre style='white-space:pre-wrap'>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return (self.title + "\n" if self.title else "") + self.text


def log(lines: Iterable[str], title: str = "") -> Text:
    return Text("\n".join(lines), title)


def _platform_message(kind: str, record: Mapping[str, Any]) -> str:
    metrics = record.get("metrics") if isinstance(record.get("metrics"), Mapping) else {}
    if kind == "platform.report" and metrics:
        text = (f"{metrics.get('durationMs')} ms (billed {metrics.get('billedDurationMs')} ms), "
                f"memory {metrics.get('maxMemoryUsedMB')} of {metrics.get('memorySizeMB')} MB")
        if "initDurationMs" in metrics:
            text += f", init {metrics['initDurationMs']} ms"
        return text + (f", {record['status']}" if record.get("status") not in (None, "success") else "")
    details = {k: v for k, v in record.items() if k not in ("requestId", "metrics")}
    return ", ".join(f"{k} {v}" for k, v in details.items())


def log_records(records: Iterable[Mapping[str, Any]], fields: Sequence[str] = ("key", "outcome", "ms"), title: str = "") -> Table:
    """Lambda log records (``lambda_fn.log_records``) as a table: one row per record.

    Columns: time, level (a platform record shows its type, ``platform.start``
    or ``platform.report``), request id, message, then ``fields`` of the
    function's records (empty where a record has none). Records of one
    invocation name it once, in the title, rather than in every row: the
    36-character id is what pushed such a table past a notebook's width.
    """
    rows = []
    for entry in records:
        record = entry.get("record")
        if "type" in entry and isinstance(record, Mapping):
            row = {"time": entry.get("time", ""), "level": entry["type"], "requestId": record.get("requestId", ""),
                   "message": _platform_message(str(entry["type"]), record)}
        else:
            row = {"time": entry.get("timestamp", ""), "level": entry.get("level") or entry.get("log_level") or "",
                   "requestId": entry.get("requestId", ""), "message": entry.get("message") or entry.get("errorMessage") or ""}
        rows.append({**row, **{name: entry.get(name) for name in fields}})
    ids = {row["requestId"] for row in rows}
    if len(ids) == 1 and rows[0]["requestId"]:
        request_id = rows[0]["requestId"]
        title = f"{title}: invocation {request_id}" if title else f"Invocation {request_id}"
        for row in rows:
            del row["requestId"]
    return Table(rows, title)


def document(value: Any, title: str = "") -> Text:
    """A JSON document (policy, event, configuration), pretty-printed."""
    return Text(json.dumps(value, indent=2, default=str, ensure_ascii=False), title)


class Documents:
    """Several JSON documents, each shown alone under its name, so that each can be copied as it is."""

    def __init__(self, documents: Mapping[str, Any], title: str = "") -> None:
        self.title = title
        self.parts = [document(value, name) for name, value in documents.items()]

    def _repr_html_(self) -> str:
        heading = f"<p><b>{html.escape(self.title)}</b></p>" if self.title else ""
        return heading + ("".join(part._repr_html_() for part in self.parts) or "<p>none</p>")

    def __repr__(self) -> str:
        body = "\n\n".join(repr(part) for part in self.parts) or "none"
        return f"{self.title}\n\n{body}" if self.title else body


def documents(values: Mapping[str, Any], title: str = "") -> Documents:
    """Named JSON documents (a role's permission policies): each alone, ready to paste into a console."""
    return Documents(values, title)


class Link:
    """An address a person can read, copy and open: the URL itself is the link, after ``text`` if given."""

    def __init__(self, url: str, text: str = "") -> None:
        self.url, self.text = url, text or url

    def _repr_html_(self) -> str:
        anchor = (f"<a href='{html.escape(self.url)}' target='_blank' rel='noopener' style='overflow-wrap:anywhere'>"
                  f"<code>{html.escape(self.url)}</code></a>")
        return anchor if self.text == self.url else f"{html.escape(self.text)}: {anchor}"

    def __repr__(self) -> str:
        return self.url if self.text == self.url else f"{self.text}: {self.url}"


def link(url: str, text: str = "") -> Link:
    return Link(url, text)


#: The diagram's grid: columns and rows of boxes, and the gaps between them, in SVG units.
#: Horizontal gaps hold the arrow labels above the arrow (two lines at most, about 110 units wide at
#: 11 px); labels of vertical arrows sit beside the arrow, in the gap between the rows.
_BOX_W, _BOX_H, _COL_GAP, _ROW_GAP, _MARGIN = 200, 52, 120, 48, 10
_BOXES = {
    # name: (column, row, label, sublabel, colour)
    "upload": (0, 0, "photo.jpg", "your upload", "#e8eaed"),
    "raw": (1, 0, "raw-image-bucket", "Amazon S3", "#d5ecd4"),
    "table": (0, 1, "ImageMetadata", "DynamoDB", "#dcd6f7"),
    "fn": (1, 1, "ImageProcessingFunction", "Lambda · Python 3.12 + Pillow", "#fde2c4"),
    "api": (2, 1, "API Gateway", "POST /process (optional)", "#f7d4dc"),
    "processed": (1, 2, "processed-image-bucket", "Amazon S3 (private)", "#d5ecd4"),
    "cdn": (1, 3, "CloudFront", "HTTPS, OAC/OAI", "#cfe3f7"),
    "viewer": (2, 3, "browser", "processed photo", "#e8eaed"),
}
#: (source, target, label): boxes side by side or one above the other; "\n" breaks a label.
_ARROWS = [
    ("upload", "raw", "PUT"), ("raw", "fn", "s3:ObjectCreated"), ("fn", "table", "filename, size,\ntimestamp"),
    ("fn", "processed", "resized + watermark"), ("api", "fn", "POST /process"), ("processed", "cdn", ""),
    ("cdn", "viewer", "GET"),
]


class Diagram:
    """The architecture of the design as SVG drawn inline (text view: the same flow in words).

    The SVG has a ``viewBox`` and takes the output's width (up to its own), so it
    scales down in a narrow notebook instead of overflowing it.
    """

    box_w, box_h, label_size, name_size = _BOX_W, _BOX_H, 11, 13

    @property
    def width(self) -> int:
        return _MARGIN * 2 + 3 * self.box_w + 2 * _COL_GAP

    @property
    def height(self) -> int:
        return _MARGIN * 2 + 4 * self.box_h + 3 * _ROW_GAP

    def box(self, name: str) -> tuple[float, float, float, float]:
        """x, y, width, height of a box."""
        column, row, *_ = _BOXES[name]
        return (_MARGIN + column * (self.box_w + _COL_GAP), _MARGIN + row * (self.box_h + _ROW_GAP), self.box_w, self.box_h)

    def _edge(self, source: str, target: str) -> tuple[float, float, float, float]:
        sx, sy, w, h = self.box(source)
        tx, ty, _, _ = self.box(target)
        if sy == ty:  # side by side
            return (sx + w, sy + h / 2, tx, ty + h / 2) if tx > sx else (sx, sy + h / 2, tx + w, ty + h / 2)
        return (sx + w / 2, sy + h, tx + w / 2, ty) if ty > sy else (sx + w / 2, sy, tx + w / 2, ty + h)

    def labels(self) -> list[tuple[str, float, float, str]]:
        """Each line of each arrow label: (text, x, y of its baseline, text-anchor)."""
        placed = []
        for source, target, label in _ARROWS:
            if not label:
                continue
            x1, y1, x2, y2 = self._edge(source, target)
            lines = label.split("\n")
            if y1 == y2:  # above the arrow, centred in the gap, the last line nearest the arrow
                for i, line in enumerate(lines):
                    placed.append((line, (x1 + x2) / 2, y1 - 6 - (len(lines) - 1 - i) * (self.label_size + 2), "middle"))
            else:  # beside the arrow, centred in the gap between the rows
                top = (y1 + y2) / 2 - (len(lines) - 1) * (self.label_size + 2) / 2 + self.label_size / 3
                for i, line in enumerate(lines):
                    placed.append((line, x1 + 8, top + i * (self.label_size + 2), "start"))
        return placed

    def svg(self) -> str:
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {self.width} {self.height}' width='{self.width}' "
            f"height='{self.height}' font-family='sans-serif'>",
            "<title>The pipeline's architecture</title>",
            "<defs><marker id='walkthrough-arrow' markerWidth='8' markerHeight='6' refX='7.5' refY='3' orient='auto'>"
            "<path d='M0,0 L8,3 L0,6 z' fill='#444'/></marker></defs>",
        ]
        for name, (_, _, label, sub, colour) in _BOXES.items():
            x, y, w, h = self.box(name)
            parts.append(f"<rect class='box' x='{x}' y='{y}' width='{w}' height='{h}' rx='8' fill='{colour}' stroke='#555'/>")
            parts.append(f"<text class='box-label' x='{x + w / 2}' y='{y + 22}' font-size='{self.name_size}' font-weight='bold' "
                         f"text-anchor='middle'>{html.escape(label)}</text>")
            parts.append(f"<text class='box-label' x='{x + w / 2}' y='{y + 40}' font-size='{self.label_size}' text-anchor='middle' "
                         f"fill='#333'>{html.escape(sub)}</text>")
        for source, target, _ in _ARROWS:
            x1, y1, x2, y2 = self._edge(source, target)
            parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#444' stroke-width='1.6' "
                         "marker-end='url(#walkthrough-arrow)'/>")
        for text, x, y, anchor in self.labels():
            parts.append(f"<text class='arrow-label' x='{x}' y='{y}' font-size='{self.label_size}' text-anchor='{anchor}' "
                         f"fill='#333'>{html.escape(text)}</text>")
        parts.append("</svg>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        # An image of the SVG rather than inline SVG: JupyterLab sanitizes the HTML of a notebook it
        # does not trust yet (any notebook opened from a clone) and drops inline SVG, leaving its words
        # run together; an image with a data address it keeps, as it keeps the photos.
        source = base64.b64encode(self.svg().encode()).decode()
        return (f"<img class='walkthrough-architecture' alt='{html.escape(repr(self))}' src='data:image/svg+xml;base64,{source}' "
                f"style='width:100%;max-width:{self.width}px;height:auto'>")

    def __repr__(self) -> str:
        return "\n".join(
            f"{_BOXES[s][2]} --{(label or '→').replace(chr(10), ' ')}--> {_BOXES[t][2]}" for s, t, label in _ARROWS
        )


def architecture() -> Diagram:
    return Diagram()


def friendly_errors() -> None:
    """In IPython, show a WalkthroughError (or a botocore error ``diagnose`` can explain) as one line.

    A real bug keeps its traceback. Outside IPython this does nothing.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
        friendly = explain(value)
        if friendly is None:  # a real bug keeps its traceback
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        else:
            shell._showtraceback(type(friendly), friendly, [f"\x1b[0;31m{type(friendly).__name__}\x1b[0m: {friendly}"])

    shell.set_custom_exc((WalkthroughError, BotoCoreError, ClientError), handler)
