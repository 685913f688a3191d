"""`python -m console [CMD ...]`: the same as `python run.py console`."""

import sys

from console.client import main

sys.exit(main())
