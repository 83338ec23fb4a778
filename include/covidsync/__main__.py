"""``python -m covidsync`` is the ``covidsync`` command."""

import sys

from covidsync.cli import main

sys.exit(main())
