"""``python -m wsstate.testing.adapter_replay module:ROLE --seed S --steps N``.

The replay command :func:`wsstate.testing.check_adapter` prints with a failure
(:func:`wsstate.testing.adapter_check.main`): it imports the
:class:`~wsstate.testing.AdapterRole` held by ``module:ROLE`` (``--app-dir``
first on ``sys.path``), runs the same check and prints the coverage or the
failure (exit status 1).
"""

from __future__ import annotations

from .adapter_check import main

if __name__ == "__main__":
    raise SystemExit(main())
