"""The one table of what the docs collector replaces in a block before running it.

A block runs as written except for these strings: placeholders a reader fills
in (``<account>``, ``<version>``), the data and model paths of a real project
(pointed at a tiny sample the library writes, so that a command that trains on
Food-101 at 224 px for 30 epochs keeps its flags and runs in seconds), example
ids a previous command of the page prints, and the fixed port of the serving
examples (a free port, so two runs on one machine do not collide). Nothing
else in a block is changed: flags, file names and the order of commands stay.

The values are templates filled by :func:`apply` from :class:`Values`.
"""

from __future__ import annotations

import attrs

#: (text in the docs, what runs instead, why). Applied in this order, so a
#: longer text comes before any shorter text it contains.
SUBSTITUTIONS: tuple[tuple[str, str, str], ...] = (
    ("<account>", "foodstore", "the reader's storage account name"),
    ("<version>", "{version}", "food_recognition.__version__"),
    ("/path/to/food-101", "{sample}", "Food-101 -> the digits sample in its layout"),
    ("/data/food-101", "{sample}", "Food-101 -> the digits sample in its layout"),
    ("data/food-101", "{sample}", "Food-101 -> the digits sample in its layout"),
    ("photos/", "{sample}/", "a user's photo folder -> the digits sample"),
    ("runs/resnet50/package", "{package}", "a trained package -> a tiny trained package"),
    ("runs/exp1/package", "{package}", "a trained package -> a tiny trained package"),
    ("dish.jpg", "{jpeg}", "a user's photo -> tests/fixtures/pizza.jpg"),
    ("--config run.yaml", "--config {config}", "a user's run configuration -> a tiny one"),
    ("job-20260101-120000-abc123", "{job}", "an example job id -> the page's last job id"),
    ("--port 5001", "--port {port}", "the serving examples' port -> a free port"),
    ("127.0.0.1:5001", "127.0.0.1:{port}", "the serving examples' port -> a free port"),
)


@attrs.frozen
class Values:
    """What the templates of :data:`SUBSTITUTIONS` are filled with.

    :param sample: the digits sample (Food-101 layout) the library writes.
    :param package: a model package trained on that sample.
    :param jpeg: a photo.
    :param config: a run configuration file reading the sample.
    :param version: the library's version.
    :param port: a free loopback port.
    :param job: the last job id the page's commands printed.
    """

    sample: str
    package: str
    jpeg: str
    config: str
    version: str
    port: int
    job: str = "no-job-submitted-yet"


def needs(text: str) -> set[str]:
    """The template fields a block's text will need (so costly ones are made only when used)."""
    fields: set[str] = set()
    for old, new, _why in SUBSTITUTIONS:
        if old in text:
            fields.update(name for name in attrs.fields_dict(Values) if f"{{{name}}}" in new)
    return fields


def apply(text: str, values: Values) -> str:
    """``text`` with every entry of :data:`SUBSTITUTIONS` replaced, in order."""
    filled = attrs.asdict(values)
    for old, new, _why in SUBSTITUTIONS:
        if old in text:
            text = text.replace(old, new.format(**filled))
    return text
