"""``python -m graphrec ...``: the same commands as the ``graphrec`` console script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
