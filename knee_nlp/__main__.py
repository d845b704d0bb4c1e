"""``python -m knee_nlp`` runs the ``knee-nlp`` CLI."""

import sys

from knee_nlp.cli import main

sys.exit(main())
