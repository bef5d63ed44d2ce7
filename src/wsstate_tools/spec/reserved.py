"""Names states and events may not take: attributes of python-statemachine's ``StateChart``.

The generated reference chart (``wsstate.testing.charts.<name>``) is a
``StateChart`` subclass with one attribute per state (its name in lower case)
and one method per event: a name that is already an attribute (``send``,
``model``, ``configuration``...) would silently replace it. The list is kept
here, not computed from python-statemachine at load time, so the tooling loads
and validates specs where only the runtime is installed (the ``wsstate[testing]``
extra brings python-statemachine); :func:`probe_reserved_names` computes it from
the installed python-statemachine, and a test asserts the two agree, so an
upgrade that adds an attribute fails the suite until this list follows.
"""

from __future__ import annotations

from typing import Final

__all__ = ["RESERVED_NAMES", "STATEMACHINE_SERIES", "probe_reserved_names", "reserved_names"]

#: The python-statemachine release series :data:`RESERVED_NAMES` was taken from.
STATEMACHINE_SERIES: Final = "3.2"

RESERVED_NAMES: Final[frozenset[str]] = frozenset(
    {
        "TransitionNotAllowed",
        "_abstract",
        "_add_listener",
        "_build_configuration",
        "_callbacks",
        "_class_listeners",
        "_config",
        "_engine",
        "_events",
        "_events_to_update",
        "_get_engine",
        "_get_initial_configuration",
        "_graph",
        "_is_protocol",
        "_listeners",
        "_loop_sleep_in_ms",
        "_processing_loop",
        "_protected_attrs",
        "_put_nonblocking",
        "_register_callbacks",
        "_repr_html_",
        "_repr_svg_",
        "_resolve_class_listeners",
        "_specs",
        "activate_initial_state",
        "active_listeners",
        "add_listener",
        "allow_event_without_transition",
        "allowed_events",
        "atomic_configuration_update",
        "bind_events_to",
        "cancel_event",
        "catch_errors_as_events",
        "configuration",
        "configuration_values",
        "current_state",
        "current_state_value",
        "enable_self_transition_entries",
        "enabled_events",
        "events",
        "final_states",
        "history_values",
        "id",
        "initial_state",
        "is_terminated",
        "model",
        "name",
        "prepare",
        "raise_",
        "send",
        "start_configuration_values",
        "state_field",
        "states",
        "states_map",
    }
)


def reserved_names() -> frozenset[str]:
    """Names a state id or event may not take (see the module's docstring)."""
    return RESERVED_NAMES


def probe_reserved_names() -> frozenset[str]:
    """The attributes of the installed python-statemachine's ``StateChart`` and its subclasses."""
    from statemachine import State, StateChart

    class _Probe(StateChart):  # type: ignore[type-arg]
        only = State(initial=True)
        step = only.to(only)

    # dir() of a subclass instance: StateChart's attributes, the ones its metaclass
    # adds to every subclass (final_states, initial_state) and the instance's own.
    names = set(dir(StateChart)) | set(dir(_Probe()))
    names -= {"only", "step"}
    return frozenset(n for n in names if not n.startswith("__"))
