"""What plugins contribute, and the registers that collect it.

Contributions are plain frozen values (attrs). A :class:`Register` collects one
kind of contribution, checks each name once, and remembers which plugin added
it, so a clash reads "backbone 'resnet50' is registered by both 'a' and 'b'".
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from food_recognition.config import did_you_mean
from food_recognition.errors import FoodRecognitionError, PluginError

_NAME = re.compile(r"^[a-z][a-z0-9_.\-]*$")

#: Preprocessing modes a backbone can declare; the model's first layer applies
#: it, so training, evaluation and serving share one definition.
PREPROCESSING_MODES = ("caffe", "torch", "tf", "scale_0_1", "none")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name}={value!r} is not a valid name: use "
            "lowercase letters, digits, '_', '.' or '-', starting with a letter"
        )


def _check_preprocessing(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    # attrs' own in_() validator raises a ValueError whose message is a tuple.
    if value not in PREPROCESSING_MODES:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name}={value!r} is not allowed; use one of "
            f"{', '.join(PREPROCESSING_MODES)}"
        )


def _check_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 32:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name}={value!r} must be a whole number of "
            "pixels >= 32"
        )


def _check_callable(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not callable(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name}={value!r} must be a function or class"
        )


@attrs.define(frozen=True)
class BackboneSpec:
    """A feature extractor a classification head can be put on.

    :param name: the registry name, e.g. ``"resnet50"``.
    :param build: ``build(input_shape, weights) -> keras.Model``; returns the
        backbone without its top, taking images already preprocessed as
        ``preprocessing`` says. ``weights`` is ``None`` (random initial
        weights) or ``"imagenet"`` (the builder fetches its pretrained
        weights); for a weights file or a model package the library builds
        with ``None`` and loads the file itself.
    :param preprocessing: one of :data:`PREPROCESSING_MODES`: how pixels in
        ``[0, 255]`` become the backbone's input (``"none"``: the backbone
        takes ``[0, 255]`` itself).
    :param default_input_size: the square input size the backbone was designed for.
    :param freeze_unit: what "freeze the first N" counts for this backbone
        (documentation for users; for Keras applications it is layers).
    :param description: one line for ``food-recognition backbones``.
    """

    name: str = attrs.field(validator=_check_name)
    build: Callable[..., Any] = attrs.field(validator=_check_callable)
    preprocessing: str = attrs.field(validator=_check_preprocessing)
    default_input_size: int = attrs.field(validator=_check_size)
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
    factory: Callable[..., Any] = attrs.field(validator=_check_callable)
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
    factory: Callable[..., Any] = attrs.field(validator=_check_callable)
    description: str = ""


class _Named(Protocol):
    @property
    def name(self) -> str: ...


#: The kind of contribution a :class:`Register` holds (anything with a ``name``).
SpecT = TypeVar("SpecT", bound=_Named)

#: ``(distribution name, version)`` of an installed plugin.
Distribution = tuple[str, str]


class DuplicateNameError(PluginError, ValueError):
    """Two plugins registered the same name for the same kind of contribution."""


class UnknownNameError(PluginError, LookupError):
    """A name was looked up that no plugin registered."""

    def __str__(self) -> str:
        # LookupError would repr() the message and show quotes around it.
        return str(self.args[0])


class PluginContractError(PluginError, TypeError):
    """A plugin broke the contract: it registered the wrong type, or its factory
    or builder returned something that is not what the library asked for.

    The message names the plugin and the distribution it came from.
    """


class Register(Generic[SpecT]):
    """Collects one kind of contribution (backbones, policies, targets) by name.

    Also the one way a contribution is built from a name and options
    (:meth:`create`), so every kind checks names and options alike.

    :param kind: what is collected, for messages ("backbone", "compute target").
    :param spec_type: the class every contribution must be an instance of.
    :param distributions: plugin name -> the installed distribution it came
        from, for messages and :meth:`distribution`; plugins absent from it
        are built-in or registered in code.
    """

    def __init__(
        self,
        kind: str,
        spec_type: type[SpecT],
        *,
        distributions: Mapping[str, Distribution] | None = None,
    ) -> None:
        self.kind = kind
        self._spec_type = spec_type
        self._distributions = dict(distributions or {})
        self._specs: dict[str, SpecT] = {}
        self._owners: dict[str, str] = {}
        self._clashes: dict[str, str] = {}
        self._current_plugin = "<direct>"

    def add(self, spec: SpecT) -> None:
        """Register ``spec`` under its name.

        :raises PluginContractError: ``spec`` is not of the register's spec type
            (also a ``TypeError``).
        :raises DuplicateNameError: the name is taken; the message names both plugins.
        """
        if not isinstance(spec, self._spec_type):
            raise PluginContractError(
                f"{self.describe_plugin(self._current_plugin)} registered {spec!r} as a "
                f"{self.kind}; expected a {self._spec_type.__name__}"
            )
        owner = self._owners.get(spec.name)
        if owner is not None:
            message = (
                f"{self.kind} {spec.name!r} is registered by both {self.describe_plugin(owner)} "
                f"and {self.describe_plugin(self._current_plugin)}; rename one of them or "
                "uninstall one plugin"
            )
            # The name is unusable (which one would a run get?); every other stays.
            self._clashes[spec.name] = message
            raise DuplicateNameError(message)
        self._specs[spec.name] = spec
        self._owners[spec.name] = self._current_plugin

    def collect(self, plugin_name: str, call: Callable[[], object]) -> None:
        """Run ``call`` (one plugin's hook) crediting what it adds to ``plugin_name``.

        A plugin fails alone: when ``call`` raises, what it added here so far is
        taken back and the error propagates for the caller to report.

        :param plugin_name: the plugin the hook implementation belongs to.
        :param call: calls the plugin's hook with this register.
        """
        previous, self._current_plugin = self._current_plugin, plugin_name
        try:
            call()
        except BaseException:
            for name in [n for n, owner in self._owners.items() if owner == plugin_name]:
                del self._specs[name], self._owners[name]
            raise
        finally:
            self._current_plugin = previous

    def get(self, name: str) -> SpecT:
        """Return the contribution called ``name``.

        :raises UnknownNameError: nothing has that name; the message lists what exists.
        :raises DuplicateNameError: two plugins registered it; the message names both.
        """
        if name in self._clashes:
            raise DuplicateNameError(self._clashes[name])
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._specs, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}. "
                f"A plugin can add more (see `food-recognition plugins`)."
            ) from None

    def create(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        option_error: type[Exception],
        defaults: Mapping[str, Any] | None = None,
        returns: type | None = None,
        hint: str = "",
    ) -> Any:
        """Build the contribution called ``name`` with ``options`` as keyword arguments.

        The one create path: look the name up (with a did-you-mean), check the
        options against the factory's signature (with a did-you-mean and the
        list of allowed ones), call the factory, check what it returned.

        :param name: the registered name.
        :param options: keyword options for the spec's ``factory``.
        :param option_error: raised for an option the factory lacks or a value
            it refuses (:class:`~food_recognition.augment.PolicyOptionError`,
            :class:`~food_recognition.tta.policies.TTAOptionError`).
        :param defaults: passed too when the factory takes them and ``options``
            does not set them (a TTA policy's ``seed``); not listed as options.
        :param returns: the type (or runtime-checkable protocol) the factory must return.
        :param hint: appended to the message of an unknown option (where to set one).
        :returns: what the factory built.
        :raises UnknownNameError: no such name.
        :raises PluginContractError: the factory returned something not of ``returns``.
        """
        factory = self.get(name).factory  # type: ignore[attr-defined]
        given = dict(options or {})
        accepted = keyword_names(factory)
        if accepted is not None:
            unknown = sorted(set(given) - accepted)
            if unknown:
                listed = sorted(accepted - set(defaults or {}))
                listing = (
                    f"allowed options: {', '.join(listed)}" if listed else "it takes no options"
                )
                raise option_error(
                    f"{self.kind} {name!r} has no option {unknown[0]!r}"
                    f"{did_you_mean(unknown[0], listed)}; {listing}{hint}"
                )
        for key, value in (defaults or {}).items():
            if key not in given and (accepted is None or key in accepted):
                given[key] = value
        try:
            built = factory(**given)
        except FoodRecognitionError:
            raise
        except (TypeError, ValueError) as error:
            raise option_error(f"{self.kind} {name!r}: {error}") from error
        if returns is not None and not isinstance(built, returns):
            expected = returns.__name__
            article = "an" if expected[0] in "AEIOU" else "a"
            raise PluginContractError(
                f"{self.kind} {name!r} of {self.describe_plugin(self._owners[name])} built "
                f"{built!r}, which is not {article} {expected}; its factory must return one "
                f"(see {expected})"
            )
        return built

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern`` (``"efficientnet*"``)."""
        return sorted(n for n in self._specs if fnmatch.fnmatch(n, pattern))

    def owner(self, name: str) -> str:
        """The name of the plugin that registered ``name``."""
        self.get(name)
        return self._owners[name]

    def distribution(self, name: str) -> Distribution | None:
        """The installed distribution whose plugin registered ``name``; ``None`` for built-ins.

        :raises UnknownNameError: no such name.
        """
        return self._distributions.get(self.owner(name))

    def describe_plugin(self, plugin_name: str) -> str:
        """``plugin 'x' (distribution 1.0)`` for messages."""
        if plugin_name == "<direct>":
            return "code that added it to the register directly"
        dist = self._distributions.get(plugin_name)
        where = f" ({dist[0]} {dist[1]})" if dist else ""
        return f"plugin {plugin_name!r}{where}"

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


def keyword_names(factory: Callable[..., Any]) -> set[str] | None:
    """The keyword arguments ``factory`` accepts; ``None`` when it takes ``**kwargs``.

    :param factory: a class or function.
    :returns: the names, or ``None`` when they cannot be known.
    """
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    names = set()
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    return names
