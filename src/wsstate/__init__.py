"""wsstate: a formally modelled WebSocket connection lifecycle."""

from __future__ import annotations

from .closecodes import InvalidCloseArgs, InvalidCloseCode, InvalidCloseReason

__all__ = ["InvalidCloseArgs", "InvalidCloseCode", "InvalidCloseReason", "__version__"]

__version__ = "0.1.0"
