"""Shared test setup: the fixture modules that own the real components.

One module per component, under ``tests/fixtures/``: synthetic images and
data-set trees, Azurite (Blob Storage), loopback HTTP file servers, Google
Drive and the Azure storage account's own host name behind loopback HTTPS
proxies, the recording Azure ML REST server, and Azure's inference server.
``tests/fixtures/loopback.py`` holds the threaded server and TLS they share.
"""

import os
import tempfile

# Quiet TensorFlow's C++ logging before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Normalized-image and scan caches go to a throwaway folder, never ~/.cache.
os.environ.setdefault("FOOD_RECOGNITION_CACHE", tempfile.mkdtemp(prefix="food-recognition-cache-"))

pytest_plugins = [
    "tests.fixtures.images",
    "tests.fixtures.azurite",
    "tests.fixtures.http_server",
    "tests.fixtures.fake_drive",
    "tests.fixtures.blob_tls_proxy",
    "tests.fixtures.azureml_rest",
    "tests.fixtures.inference_server",
    "tests.docs.pages",
]


def pytest_terminal_summary(terminalreporter: object) -> None:
    """The docs collector's table: every documented block run and the count (tests/docs)."""
    from tests.docs.summary import report

    report(terminalreporter)
