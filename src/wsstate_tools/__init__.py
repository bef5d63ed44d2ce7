"""wsstate's tooling: everything that reads the machine specs, and the ``wsstate`` command.

A sibling of the runtime package ``wsstate`` in the same distribution. The
runtime never imports it; it imports the runtime only where it drives real
connections (fuzz, bench, demo), never to generate or check, so ``wsstate
generate`` can always repair a broken generated file.

* :mod:`.spec`: load and validate ``spec/*.toml`` into frozen ``Spec`` objects;
* :mod:`.generate`: the runtime tables, reference charts, diagrams, Promela
  models and stateful tests of every machine;
* :mod:`.verify`: the model checker (machines composed with their peers);
* :mod:`.fuzz`, :mod:`.bench`, :mod:`.demo`: campaigns, benchmarks, the demo;
* :mod:`.cli`: the ``wsstate`` command line.
"""
