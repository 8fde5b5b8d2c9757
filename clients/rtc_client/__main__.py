"""``python -m rtc_client`` is ``jupyter-rtc``."""

import sys

from .cli import main

sys.exit(main())
