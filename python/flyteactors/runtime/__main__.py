"""Entry point of the warm runtime: ``python -m flyteactors.runtime``. See the package docstring."""

import sys

from flyteactors.runtime.worker import main

if __name__ == "__main__":
    sys.exit(main())
