"""``python -m spikeloc``: the ``spikeloc`` command line (:mod:`spikeloc.cli`)."""

import sys

from spikeloc.cli import main

sys.exit(main())
