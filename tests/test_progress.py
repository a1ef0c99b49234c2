"""Progress bars end as the work did: full and green on success, red on failure, in the saved notebook too.

The notebook cases run in a real kernel (nbclient, as papermill and ``make
notebooks`` run them) and read what the saved notebook keeps: the output's
plain text (what GitHub, nbviewer and a JupyterLab that has not restored the
widgets show) and the stored widget state (what draws the bar).
"""

from __future__ import annotations

import io

import pytest

from walkthrough.progress import Progress


def _run_in_kernel(*cells: str):
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(notebook, timeout=60, allow_errors=True).execute()
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [model["state"] for model in state.values() if model["model_name"] == "FloatProgressModel"]
    texts = [[output["data"]["text/plain"] for output in cell.outputs if output.get("data", {}).get("text/plain")]
             for cell in notebook.cells]
    return texts, bars


@pytest.mark.slow
def test_in_a_notebook_a_wait_that_ends_early_ends_full_and_green_and_its_saved_text_says_so():
    texts, bars = _run_in_kernel(
        "from walkthrough.progress import Progress\n"
        "with Progress(60, 'waiting for photo.jpg', 's') as bar:\n"
        "    bar.set(1)\n"
        "    bar.succeed('recorded after 0.14 s')",
        "with Progress(5, 'processing batch', 'image') as bar:\n"
        "    for _ in range(5):\n"
        "        bar.update(1)",
        "with Progress(60, 'waiting for late.jpg', 's') as bar:\n"
        "    bar.set(60)\n"
        "    raise TimeoutError('no result')",
    )
    wait, batch, late = texts
    assert wait == ["waiting for photo.jpg: ##########| recorded after 0.14 s"]  # not "0%| | 0/60", as first shown
    assert batch[0].startswith("processing batch: 100%|##########| 5/5")
    assert "failed" in late[0]
    assert [(b["bar_style"], b["value"] == b["max"]) for b in bars] == [("success", True), ("success", True), ("danger", True)]


def test_in_a_terminal_the_bar_ends_with_its_note_or_says_it_failed():
    out = io.StringIO()
    with Progress(60, "waiting for photo.jpg", "s", file=out) as bar:
        bar.set(2)
        bar.succeed("recorded after 2.00 s")
    assert out.getvalue().replace("\r", "\n").strip().splitlines()[-1] == "waiting for photo.jpg: ##########| recorded after 2.00 s"  # StringIO: ASCII

    out = io.StringIO()
    with pytest.raises(TimeoutError):
        with Progress(60, "waiting for late.jpg", "s", file=out) as bar:
            bar.set(60)
            raise TimeoutError
    last = out.getvalue().replace("\r", "\n").strip().splitlines()[-1]  # tqdm redraws the line with \r
    assert last.startswith("waiting for late.jpg") and last.endswith("failed]")


def test_a_disabled_bar_shows_nothing():
    out = io.StringIO()
    with Progress(60, "waiting", "s", disable=True, file=out) as bar:
        bar.set(3)
    assert out.getvalue() == ""
