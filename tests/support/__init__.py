"""Helpers of the runtime tests: importable as ``support`` (``pythonpath = ["tests"]``).

- :mod:`support.harness`: the ``h`` harness, the websockets pairs, the checks every
  scenario makes (``assert_peer_gone`` ...), scaled-down timeouts;
- :mod:`support.asgi`: Starlette applications on a real uvicorn (:class:`~support.asgi.Site`);
- :mod:`support.transports`: the transports the scenario suite runs on, with what
  each one is expected to show;
- :mod:`support.catalogue`: the failure catalogue (docs/scenarios.md) and which
  rows each transport runs, or why not.
"""

import pkgutil

import pytest

# The checks here (assert_peer_gone, ...) explain their failures as the tests' own
# asserts do: the submodules are registered before any of them is imported.
pytest.register_assert_rewrite(*(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)))
