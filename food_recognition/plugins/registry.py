"""What plugins contribute, and the registers that collect it.

Contributions are plain frozen values (attrs). A :class:`Register` collects one
kind of contribution, checks each name once, and remembers which plugin added
it, so a clash reads "backbone 'resnet50' is registered by both 'a' and 'b'".
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import attrs

from food_recognition.errors import PluginError

_NAME = re.compile(r"^[a-z][a-z0-9_.\-]*$")

#: Preprocessing modes a backbone can declare; the model's first layer applies
#: it, so training, evaluation and serving share one definition.
PREPROCESSING_MODES = ("caffe", "torch", "tf", "scale_0_1", "none")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name}={value!r} is not a valid name: use "
            "lowercase letters, digits, '_', '.' or '-', starting with a letter"
        )


@attrs.define(frozen=True)
class BackboneSpec:
    """A feature extractor a classification head can be put on.

    :param name: the registry name, e.g. ``"resnet50"``.
    :param build: ``build(input_shape, weights) -> keras.Model``; returns the
        backbone without its top, taking images already preprocessed as
        ``preprocessing`` says. ``weights`` is ``None``, ``"imagenet"`` or a
        path to a weights file.
    :param preprocessing: one of :data:`PREPROCESSING_MODES`: how pixels in
        ``[0, 255]`` become the backbone's input (``"none"``: the backbone
        takes ``[0, 255]`` itself).
    :param default_input_size: the square input size the backbone was designed for.
    :param freeze_unit: what "freeze the first N" counts for this backbone
        (documentation for users; for Keras applications it is layers).
    :param description: one line for ``food-recognition backbones``.
    """

    name: str = attrs.field(validator=_check_name)
    build: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    preprocessing: str = attrs.field(validator=attrs.validators.in_(PREPROCESSING_MODES))
    default_input_size: int = attrs.field(
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(32)]
    )
    freeze_unit: str = "layers"
    description: str = ""


@attrs.define(frozen=True)
class PolicySpec:
    """An augmentation or TTA policy, built by ``factory(**options)``.

    :param name: the registry name, e.g. ``"reference"``.
    :param factory: returns the policy object for the given options.
    :param description: one line for listings.
    """

    name: str = attrs.field(validator=_check_name)
    factory: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    description: str = ""


@attrs.define(frozen=True)
class TargetSpec:
    """A compute target training jobs run on.

    :param name: the registry name, e.g. ``"local"`` or ``"azureml"``.
    :param factory: ``factory(**options)`` returns a
        :class:`food_recognition.compute.ComputeTarget`. Import heavy SDKs
        inside the factory, so listing targets stays fast.
    :param description: one line for listings.
    """

    name: str = attrs.field(validator=_check_name)
    factory: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    description: str = ""


class _Named(Protocol):
    @property
    def name(self) -> str: ...


SpecT = TypeVar("SpecT", bound=_Named)


class DuplicateNameError(PluginError, ValueError):
    """Two plugins registered the same name for the same kind of contribution."""


class UnknownNameError(PluginError, LookupError):
    """A name was looked up that no plugin registered."""

    def __str__(self) -> str:
        # LookupError would repr() the message and show quotes around it.
        return str(self.args[0])


class Register(Generic[SpecT]):
    """Collects one kind of contribution (backbones, targets, ...) by name.

    :param kind: what is collected, for messages ("backbone", "compute target").
    :param spec_type: the class every contribution must be an instance of.
    """

    def __init__(self, kind: str, spec_type: type[SpecT]) -> None:
        self.kind = kind
        self._spec_type = spec_type
        self._specs: dict[str, SpecT] = {}
        self._owners: dict[str, str] = {}
        self._current_plugin = "<direct>"

    def add(self, spec: SpecT) -> None:
        """Register ``spec`` under its name.

        :raises TypeError: ``spec`` is not of the register's spec type.
        :raises DuplicateNameError: the name is taken; the message names both plugins.
        """
        if not isinstance(spec, self._spec_type):
            raise TypeError(
                f"plugin {self._current_plugin!r} registered {spec!r} as a {self.kind}; "
                f"expected a {self._spec_type.__name__}"
            )
        owner = self._owners.get(spec.name)
        if owner is not None:
            raise DuplicateNameError(
                f"{self.kind} {spec.name!r} is registered by both {owner!r} and "
                f"{self._current_plugin!r}; rename one of them or uninstall one plugin"
            )
        self._specs[spec.name] = spec
        self._owners[spec.name] = self._current_plugin

    def get(self, name: str) -> SpecT:
        """Return the contribution called ``name``.

        :raises UnknownNameError: nothing has that name; the message lists what exists.
        """
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._specs, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}. "
                f"A plugin can add more (see `food-recognition plugins`)."
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern`` (``"efficientnet*"``)."""
        return sorted(n for n in self._specs if fnmatch.fnmatch(n, pattern))

    def owner(self, name: str) -> str:
        """The name of the plugin that registered ``name``."""
        self.get(name)
        return self._owners[name]

    def by_plugin(self) -> dict[str, list[str]]:
        """Plugin name -> the names it registered, sorted."""
        result: dict[str, list[str]] = {}
        for name in self.names():
            result.setdefault(self._owners[name], []).append(name)
        return result

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[SpecT]:
        return (self._specs[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._specs)

    def _collecting_for(self, plugin_name: str) -> None:
        self._current_plugin = plugin_name
