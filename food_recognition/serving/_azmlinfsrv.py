"""Run ``azmlinfsrv`` bound to one interface (``python -m ...serving._azmlinfsrv HOST ARGS``).

The inference server always binds ``0.0.0.0``; a local server for tests and
``food-recognition serve`` should listen on loopback only.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Set the server's bind address from ``argv[1]`` and run it with the remaining arguments."""
    from azureml_inference_server_http import amlserver  # type: ignore[import-untyped]

    host = sys.argv[1]
    sys.argv = ["azmlinfsrv", *sys.argv[2:]]
    amlserver.DEFAULT_HOST = host
    amlserver.run()


if __name__ == "__main__":
    main()
