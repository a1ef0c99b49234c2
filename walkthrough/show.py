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
        if isinstance(value, (dict, list)):
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
    """Images side by side, each with a caption: format, dimensions, size."""

    def __init__(self, items: Sequence[tuple[str, bytes]], max_width: int = 420) -> None:
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
                f"<figure style='margin:0 1em 0 0'><img src='{src}' style='max-width:{self.max_width}px;height:auto'>"
                f"<figcaption>{html.escape(self._label(caption, info))}</figcaption></figure>"
            )
        return "<div style='display:flex;align-items:flex-start'>" + "".join(figures) + "</div>"

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
    function's records (empty where a record has none).
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
    return Table(rows, title)


def document(value: Any, title: str = "") -> Text:
    """A JSON document (policy, event, configuration), pretty-printed."""
    return Text(json.dumps(value, indent=2, default=str, ensure_ascii=False), title)


class Link:
    def __init__(self, url: str, text: str = "") -> None:
        self.url, self.text = url, text or url

    def _repr_html_(self) -> str:
        return f"<a href='{html.escape(self.url)}' target='_blank'>{html.escape(self.text)}</a>"

    def __repr__(self) -> str:
        return self.url if self.text == self.url else f"{self.text}: {self.url}"


def link(url: str, text: str = "") -> Link:
    return Link(url, text)


_BOXES = {
    # name: (x, y, label, sublabel, colour)
    "upload": (10, 95, "photo.jpg", "your upload", "#e8eaed"),
    "raw": (190, 95, "raw-image-bucket", "Amazon S3", "#d5ecd4"),
    "fn": (400, 95, "ImageProcessingFunction", "Lambda · Python 3.12 + Pillow", "#fde2c4"),
    "processed": (640, 30, "processed-image-bucket", "Amazon S3 (private)", "#d5ecd4"),
    "table": (640, 160, "ImageMetadata", "DynamoDB", "#dcd6f7"),
    "cdn": (860, 30, "CloudFront", "HTTPS, OAC/OAI", "#cfe3f7"),
    "viewer": (1060, 30, "browser", "processed photo", "#e8eaed"),
    "api": (400, 205, "API Gateway", "POST /process (optional)", "#f7d4dc"),
}
_ARROWS = [
    ("upload", "raw", "PUT"), ("raw", "fn", "s3:ObjectCreated"), ("fn", "processed", "resized + watermark"),
    ("fn", "table", "filename, size, timestamp"), ("processed", "cdn", ""), ("cdn", "viewer", "GET"), ("api", "fn", ""),
]


class Diagram:
    """The architecture of the design, drawn as SVG (text view: the same flow in words)."""

    width, height, box_w, box_h = 1240, 270, 170, 52

    def _center(self, name: str) -> tuple[float, float]:
        x, y, *_ = _BOXES[name]
        return x + self.box_w / 2, y + self.box_h / 2

    def _edge(self, source: str, target: str) -> tuple[float, float, float, float]:
        (x1, y1), (x2, y2) = self._center(source), self._center(target)
        if abs(x2 - x1) * self.box_h >= abs(y2 - y1) * self.box_w:
            return x1 + self.box_w / 2 * (1 if x2 > x1 else -1), y1, x2 - self.box_w / 2 * (1 if x2 > x1 else -1), y2
        return x1, y1 + self.box_h / 2 * (1 if y2 > y1 else -1), x2, y2 - self.box_h / 2 * (1 if y2 > y1 else -1)

    def _repr_svg_(self) -> str:
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' font-family='sans-serif'>",
            "<defs><marker id='arrow' markerWidth='10' markerHeight='8' refX='9' refY='4' orient='auto'>"
            "<path d='M0,0 L10,4 L0,8 z' fill='#444'/></marker></defs>",
        ]
        for source, target, label in _ARROWS:
            x1, y1, x2, y2 = self._edge(source, target)
            parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#444' stroke-width='1.6' marker-end='url(#arrow)'/>")
            if label:
                parts.append(f"<text x='{(x1 + x2) / 2}' y='{(y1 + y2) / 2 - 6}' font-size='11' text-anchor='middle' fill='#333'>{html.escape(label)}</text>")
        for x, y, label, sub, colour in _BOXES.values():
            parts.append(f"<rect x='{x}' y='{y}' width='{self.box_w}' height='{self.box_h}' rx='8' fill='{colour}' stroke='#555'/>")
            parts.append(f"<text x='{x + self.box_w / 2}' y='{y + 22}' font-size='13' font-weight='bold' text-anchor='middle'>{html.escape(label)}</text>")
            parts.append(f"<text x='{x + self.box_w / 2}' y='{y + 40}' font-size='11' text-anchor='middle' fill='#333'>{html.escape(sub)}</text>")
        parts.append("</svg>")
        return "".join(parts)

    def __repr__(self) -> str:
        return "\n".join(
            f"{_BOXES[s][2]} --{label or '→'}--> {_BOXES[t][2]}" for s, t, label in _ARROWS
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
