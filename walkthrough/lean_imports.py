"""Start-up without the IRI grammar: importing this module keeps rfc3987-syntax from loading.

jsonschema's format checkers import rfc3987-syntax when it is installed
(JupyterLab brings it, through jupyter-events), and it compiles three Earley
grammars as it is imported: 2.2 s of CPU in every process that imports
jsonschema, which are each pytest process (nbval imports nbformat), each
``python -m walkthrough`` that runs notebooks (papermill) and the emulator
(moto's API Gateway). Only jsonschema's "iri" and "iri-reference" formats
use it, nothing the walkthrough validates has one, and jsonschema skips a
format check whose module does not import.

Imported first by the emulator, the command line and pytest
(``-p walkthrough.lean_imports`` in pyproject.toml, so that it comes before
the plugins); never by the notebook kernels, whose imports stay the learner's.
"""

import sys

if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # an import of it now fails at once
