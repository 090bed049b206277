"""``python -m els ...``: the command line (:mod:`els.cli`)."""
import sys

from .cli import main

sys.exit(main())
