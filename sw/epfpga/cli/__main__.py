"""``python -m epfpga.cli``: the ``epfpga`` command without its console script."""

import sys

from epfpga.cli import main

sys.exit(main())
