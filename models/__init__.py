"""ferrotcp's declarative spec of TCP (``tcp.toml``) and its checkers.

In the repository this is ``models/``; the wheel ships it as ``ferrotcp.models`` so that
``ferrotcp verify`` runs after a plain ``pip install``.
"""

from .expr import SpecError
from .spec import Spec, Step, load, step

__all__ = ["Spec", "SpecError", "Step", "load", "step"]
