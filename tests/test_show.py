"""What the notebook display helpers show: the diagram, tables, links, documents, logs, the environment.

The browser test (tests/test_browser.py) measures these in JupyterLab with real
fonts; these check the same promises quickly, from the HTML and text views.
"""

from __future__ import annotations

import base64
import json
import re

from hypothesis import given, strategies as st

from walkthrough import environment, show

#: Average glyph width as a share of the font size, generous for sans-serif (DejaVu Sans, Chromium's
#: default on Debian, is among the widest): regular and bold.
EM, EM_BOLD = 0.6, 0.65


def _diagram_svg(diagram: show.Diagram) -> str:
    source = re.search(r"src='data:image/svg\+xml;base64,([^']+)'", diagram._repr_html_()).group(1)
    return base64.b64decode(source).decode()


def _label_box(text: str, x: float, y: float, anchor: str, size: float) -> tuple[float, float, float, float]:
    width = len(text) * size * EM
    left = x - width / 2 if anchor == "middle" else x
    return left, y - size * 0.92, width, size * 1.15  # ascent above the baseline, descent below (DejaVu Sans)


def _meets(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_the_diagram_scales_to_the_output_instead_of_overflowing_it():
    diagram = show.architecture()
    svg = _diagram_svg(diagram)
    assert f"viewBox='0 0 {diagram.width} {diagram.height}'" in svg
    assert "width:100%" in diagram._repr_html_() and f"max-width:{diagram.width}px" in diagram._repr_html_()


def test_the_diagrams_arrow_labels_stay_clear_of_the_boxes_and_of_each_other():
    diagram = show.architecture()
    boxes = [diagram.box(name) for name in show._BOXES]
    labels = [_label_box(text, x, y, anchor, diagram.label_size) for text, x, y, anchor in diagram.labels()]
    assert labels, "the arrows carry labels"
    for (text, *_), label in zip(diagram.labels(), labels):
        assert not any(_meets(label, box) for box in boxes), f"{text!r} runs into a box"
        assert 0 <= label[0] and label[0] + label[2] <= diagram.width, f"{text!r} is cut off"
    for i, a in enumerate(labels):
        assert not any(_meets(a, b) for b in labels[i + 1:]), "two labels overlap"


def test_each_box_name_fits_its_box():
    diagram = show.architecture()
    for name, (_, _, label, sub, _) in show._BOXES.items():
        width = diagram.box(name)[2]
        assert len(label) * diagram.name_size * EM_BOLD < width, label
        assert len(sub) * diagram.label_size * EM < width, sub


def test_the_diagrams_text_view_names_every_arrow():
    text = repr(show.architecture())
    assert "photo.jpg --PUT--> raw-image-bucket" in text
    assert "ImageProcessingFunction --filename, size, timestamp--> ImageMetadata" in text
    assert len(text.splitlines()) == len(show._ARROWS)


def test_a_list_of_words_reads_as_words_and_an_empty_one_as_none():
    table = show.table({"changes": ["added ImageProcessingLeastPrivilege", "removed AmazonS3FullAccess"], "none": []})
    assert "added ImageProcessingLeastPrivilege, removed AmazonS3FullAccess" in repr(table)
    assert re.search(r"^none\s+none$", repr(table), re.M)
    assert "[" not in table._repr_html_()


def test_structured_values_stay_json():
    assert '{"a": 1}' in repr(show.table({"config": {"a": 1}}))


def test_an_address_is_shown_as_text_a_person_can_read_and_copy():
    url = "http://127.0.0.1:5000/_walkthrough/cloudfront/E123/processed-photo.jpg"
    link = show.link(url, "processed-photo.jpg through CloudFront")
    page = link._repr_html_()
    assert f"href='{url}'" in page and f"<code>{url}</code></a>" in page
    assert page.startswith("processed-photo.jpg through CloudFront: ")
    assert repr(link) == f"processed-photo.jpg through CloudFront: {url}"
    assert show.link(url)._repr_html_().startswith("<a ") and repr(show.link(url)) == url


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=10)


@given(st.dictionaries(st.text(min_size=1, max_size=30).filter(lambda s: "\n" not in s and s.strip() == s),
                       st.dictionaries(st.text(max_size=10), _json, max_size=4), max_size=3))
def test_each_named_document_is_shown_alone_and_pastes_as_itself(documents):
    shown = show.documents(documents)
    assert [part.title for part in shown.parts] == list(documents)
    for part, value in zip(shown.parts, documents.values()):
        assert json.loads(part.text) == value  # the text under each name is that document and nothing else
    if not documents:
        assert repr(shown) == "none"


def test_a_policy_is_shown_without_the_name_wrapped_around_it():
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    text = repr(show.documents({"ImageProcessingLeastPrivilege (inline)": policy}))
    title, _, body = text.partition("\n")
    assert title == "ImageProcessingLeastPrivilege (inline)" and json.loads(body) == policy


def _records(request_id: str, key: str) -> list[dict]:
    return [
        {"time": "2026-01-01T00:00:00.000Z", "type": "platform.start", "record": {"requestId": request_id, "version": "$LATEST"}},
        {"timestamp": "2026-01-01T00:00:00Z", "level": "INFO", "message": f"processed {key!r}", "requestId": request_id,
         "key": key, "outcome": "processed", "ms": 12.5},
        {"time": "2026-01-01T00:00:00.100Z", "type": "platform.report", "record": {"requestId": request_id, "metrics": {
            "durationMs": 12.9, "billedDurationMs": 13, "memorySizeMB": 1024, "maxMemoryUsedMB": 64}}},
    ]


def test_one_invocations_log_names_it_once_and_shows_one_record_per_row():
    table = show.log_records(_records("3ad8df96-4938-4df8-82a2-45452645fc7a", "photo.jpg"))
    assert table.title == "Invocation 3ad8df96-4938-4df8-82a2-45452645fc7a"
    assert "requestId" not in table.columns
    assert [row["level"] for row in table.rows] == ["platform.start", "INFO", "platform.report"]
    assert table.rows[1]["key"] == "photo.jpg" and table.rows[2]["message"].startswith("12.9 ms (billed 13 ms)")


def test_records_of_several_invocations_keep_their_request_ids():
    table = show.log_records(_records("a" * 8 + "-1111-2222-3333-" + "b" * 12, "a.jpg") + _records("c" * 8 + "-1111-2222-3333-" + "d" * 12, "b.jpg"))
    assert "requestId" in table.columns and table.title == ""


def test_the_environment_table_lists_the_notebook_stack():
    components = {row["component"]: row for row in environment.check_environment()}
    for name in ("jupyterlab", "ipykernel", "ipywidgets"):
        assert components[name]["ok"] and components[name]["version"] != "missing"
