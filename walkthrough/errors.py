"""The one exception type for everything a user can fix, with a one-line message.

Deep botocore tracebacks teach nothing in a notebook or a terminal; the CLI and
the notebook helpers print ``WalkthroughError`` as a single line that names the
fix. Turning low-level failures into one is ``diagnose.py``'s job.
"""

from __future__ import annotations


class WalkthroughError(Exception):
    """A problem the user can fix; ``str()`` is one line that says how."""
