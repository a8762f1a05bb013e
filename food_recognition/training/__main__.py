"""``python -m food_recognition.training``: the same as ``food-recognition train``.

Azure ML jobs and the ``local`` compute target run this command line; it takes
the arguments of ``food-recognition train`` (``--config``, ``--output``, every
``--section.field``) and prints the model package folder.
"""

from __future__ import annotations

import sys

from food_recognition.cli import main


def _main() -> int:
    return main(["train", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(_main())
