"""Hardware-in-the-loop end-to-end test framework for GPS-denied UAV navigation."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
