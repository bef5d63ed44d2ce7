"""Machines composed with what surrounds them, registered by machine name.

Every machine is checked alone (:func:`~wsstate_tools.verify.search.check_machine`:
the well-formedness properties). A machine whose behaviour depends on a peer, a
channel or a broker also has a *composition*: a model of it together with those,
with properties of its own. :data:`COMPOSITIONS` is the one place that says
which machines have one; a machine not listed gets the well-formedness checks
only. (The Promela renderer, :mod:`wsstate_tools.generate.promela`, has the
matching table of composed models; a test checks the two list the same names.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ..spec import Spec
from .client_model import CLIENT_PROPERTIES, check_client, replay_client
from .link import LINK_PROPERTIES, check_link, replay_link
from .model import PROPERTIES, Bounds
from .report import Replay, Result
from .search import check, replay
from .session import SESSION_PROPERTIES, check_session, replay_session

__all__ = ["COMPOSITIONS", "Composition"]


@dataclass(frozen=True, slots=True)
class Composition:
    """A machine composed with its surroundings: what to explore and what must hold."""

    doc: str
    """What the composition is, in one line."""
    properties: Mapping[str, str]
    """Its properties, in report order."""
    check: Callable[[Spec, Bounds | None], Result]
    """Explore the composition built from a spec, within bounds."""
    replay: Callable[[Spec, Sequence[str], Bounds | None], Replay]
    """Follow a counterexample's steps again (full model)."""


def _replay(spec: Spec, steps: Sequence[str], bounds: Bounds | None) -> Replay:
    return replay(spec, steps, bounds)


def _check_client(spec: Spec, bounds: Bounds | None) -> Result:
    # The client's composition has bounds of its own (ClientBounds): the connection's
    # --sends/--pings/--faults/--capacity do not apply to it.
    return check_client(spec)


def _replay_client(spec: Spec, steps: Sequence[str], bounds: Bounds | None) -> Replay:
    return replay_client(spec, steps)


def _check_link(spec: Spec, bounds: Bounds | None) -> Result:
    # The link's composition has bounds of its own (LinkBounds), as the client's.
    return check_link(spec)


def _replay_link(spec: Spec, steps: Sequence[str], bounds: Bounds | None) -> Replay:
    return replay_link(spec, steps)


#: Machine name -> its composition.
COMPOSITIONS: Final[Mapping[str, Composition]] = MappingProxyType(
    {
        "connection": Composition(
            doc="two connection peers (client, server) over a TCP channel with faults and "
            "timers (wsstate_tools.verify.model)",
            properties=PROPERTIES,
            check=check,
            replay=_replay,
        ),
        "session": Composition(
            doc="one session and two connection generations whose attaches, detaches, "
            "beacons, sends and grace timer interleave (wsstate_tools.verify.session)",
            properties=SESSION_PROPERTIES,
            check=check_session,
            replay=replay_session,
        ),
        "client": Composition(
            doc="the reconnecting client with a server that accepts, refuses (retryable or "
            "fatal), accepts then closes, or vanishes, with its timers "
            "(wsstate_tools.verify.client_model)",
            properties=CLIENT_PROPERTIES,
            check=_check_client,
            replay=_replay_client,
        ),
        "link": Composition(
            doc="a process' link to a broker that drops it, restarts, loses and doubles "
            "messages, with a remote publisher and the backoff timer "
            "(wsstate_tools.verify.link)",
            properties=LINK_PROPERTIES,
            check=_check_link,
            replay=_replay_link,
        ),
    }
)
