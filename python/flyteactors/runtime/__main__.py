"""Entry point of the warm runtime: ``python -m flyteactors.runtime``. See the package docstring."""

import sys

from flyteactors.runtime.worker import main

if __name__ == "__main__":
    # flytekit notes which module made a task by walking up to the nearest module frame. For a task made
    # at run time (every map task item makes one) that is this file, and where it lies under the working
    # directory (an image whose WORKDIR is /) flytekit imports it again and puts the working directory on
    # sys.path, once per task made. Without __file__ it does neither and notes no module.
    globals().pop("__file__", None)
    sys.exit(main())
