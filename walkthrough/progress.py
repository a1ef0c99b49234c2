"""Progress bars for waits and batches that end as the work did: full and green on success, red on failure.

tqdm's notebook bar (an ipywidgets progress widget) is marked failed (red,
"danger") when it is closed before reaching its total, and a wait that ends
before its time-out always is. And a notebook keeps, as the output's plain
text, what the bar read when it was first shown ("0/60"): that is what a saved
notebook shows wherever its widgets are not drawn (GitHub, nbviewer, a
terminal), beside results that say the work is done. So in a notebook a bar
here is displayed with a display id and shown again in place when it ends:
its text then reads as it ended, and so does the widget state the notebook
stores. In a terminal it is tqdm's usual text bar.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tqdm.auto import tqdm
from tqdm.notebook import tqdm_notebook


def _literal(text: str) -> str:
    """``text`` inside a tqdm ``bar_format`` (a ``str.format`` template), shown as it is."""
    return text.replace("{", "{{").replace("}", "}}")


class Progress:
    """One bar: ``set``/``update`` while working, then ``succeed`` or ``fail`` (a ``with`` block does it).

    Leaving the block normally succeeds, with an exception fails; ``succeed``
    fills the bar whatever the count, so a wait that ended early ends full,
    with ``note`` (such as "recorded after 0.14 s") in place of the counts.
    """

    def __init__(self, total: float, desc: str, unit: str, *, disable: bool = False, **options: Any) -> None:
        self._notebook = issubclass(tqdm, tqdm_notebook) and not disable
        if self._notebook:
            options["display"] = False  # displayed below, with an id, so that the end can replace it
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=True, **options)
        self._handle = None
        if self._notebook:
            from IPython.display import display

            self._handle = display(self.bar.container, display_id=True)
        self.ended = False

    def set(self, n: float) -> None:
        """Show ``n`` done (never past the total: a bar of a time-out ends there)."""
        self.bar.n = min(n, self.bar.total) if self.bar.total else n
        self.bar.refresh()

    def update(self, n: float = 1) -> None:
        self.bar.update(n)

    def status(self, text: str) -> None:
        """A short word after the counts, such as the state of what is being waited for."""
        self.bar.set_postfix_str(text)

    def succeed(self, note: str = "") -> None:
        """End full and green; ``note`` replaces the counts (which read oddly on a wait that ended early)."""
        if self.ended:
            return
        if self.bar.total:
            self.bar.n = self.bar.total
        if note:
            self.bar.bar_format = "{desc}: {bar}| " + _literal(note)
        self._end()

    def fail(self, note: str = "") -> None:
        """End red (in a notebook), keeping the count reached, so the bar shows where the work stopped."""
        if self.ended:
            return
        if note:
            self.bar.set_postfix_str(note)
        if self._notebook:
            self.bar.disp(bar_style="danger", check_delay=False)  # tqdm keeps "danger" through close()
        self._end()

    def _end(self) -> None:
        self.ended = True
        self.bar.close()
        if self._handle is not None:
            self._handle.update(self.bar.container)  # the output's text now reads as the bar ended

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.succeed()
        else:
            self.fail("failed")


def progress(total: float, desc: str, unit: str, *, disable: bool = False, **options: Any) -> Progress:
    """A bar that ends as the work did (see ``Progress``); ``options`` go to tqdm."""
    return Progress(total, desc, unit, disable=disable, **options)
