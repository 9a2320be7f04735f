"""``python -m lstm_ref``: the lstm-ref command line."""

import sys

from lstm_ref.cli import main

sys.exit(main())
