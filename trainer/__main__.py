"""``python -m trainer``: the same CLI as ``turnrl``."""

import sys

from trainer.cli import main

sys.exit(main())
