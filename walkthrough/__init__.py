"""Automated image processing and content delivery on AWS, as a runnable tutorial.

The notebooks in ``notebooks/`` call one module per step of the source
document; every AWS call lives here so a notebook cell reads like the step it
teaches. ``Settings`` chooses the target: the local emulator (default) or a
real AWS account.
"""

from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

__all__ = ["Settings", "WalkthroughError"]
__version__ = "0.1.0"
