"""``wsstate fuzz``: long fuzzing campaigns, on several processes, with one progress display.

Two campaigns:

* ``--target URL|module:app|module:handler``: :func:`wsstate.testing.fuzz`
  against that endpoint (works on an installed package: nothing is read from a
  checkout; ``module:attribute`` is imported with ``--app-dir``, default the
  current directory, on ``sys.path``, as uvicorn does);
* without ``--target``: this project's generated Hypothesis state machines
  (``tests/generated/``) of one machine, ``--machine NAME`` (default
  ``connection``; any ``spec/*.toml`` that names a harness), which only a
  checkout has: elsewhere the command says so and exits 2.

Either runs in chunks of ``--examples`` examples, each chunk with its own seed,
until ``--minutes`` are up, on ``--workers`` processes (default: the number of
cores) that share one Hypothesis example database (a directory), so a failing
example found by one is replayed first by the others. The parent prints one
progress line a second (chunks, examples, steps, steps per second, coverage,
failures) and one summary at the end, with a replay command per failure
(``--replay SEED`` runs that one chunk again, in this process).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from wsstate.testing.targets import Kind

__all__ = ["add_arguments", "main"]

#: The machine ``--machine`` runs by default.
DEFAULT_MACHINE: Final = "connection"
CHUNK: Final = 5
STEPS: Final = 20
TARGET_STEPS: Final = 12
TARGET_CHUNK: Final = 20
#: Seconds between two progress lines.
PROGRESS_EVERY: Final = 1.0


@dataclass(frozen=True)
class Machine:
    """A machine with generated stateful tests, as its spec names them (picklable)."""

    name: str
    #: The module of its stateful harness (``machine.harness`` in its spec).
    harness: str
    #: The Hypothesis state machine of the generated tests (``ConnectionMachine``).
    cls: str
    #: The generated tests, relative to the checkout's root.
    path: str

    def module(self) -> ModuleType:
        """The harness module (what counts the steps and the pairs seen)."""
        return importlib.import_module(self.harness)

    def roles(self) -> tuple[str, ...]:
        """The harness's roles, in its order."""
        return tuple(self.module().ROLES)


def _machine(root: Path, name: str) -> Machine:
    """The machine ``name`` of the checkout at ``root``; ValueError naming those there are."""
    from .generate.common import class_prefix
    from .generate.stateful import stateful_tests_path
    from .paths import SPEC_DIR
    from .spec import loader

    specs = {p.stem: p for p in sorted((root / SPEC_DIR).glob("*.toml"))}
    if not specs:
        raise _no_checkout(root)
    path = specs.get(name)
    spec = loader.load(path) if path is not None else None
    if spec is None or spec.harness is None:
        with_tests = [n for n, p in specs.items() if loader.load(p).harness is not None]
        raise ValueError(
            f"--machine: no machine {name!r} with generated stateful tests in "
            f"{root / SPEC_DIR}; choose from {', '.join(with_tests) or 'none'}"
        )
    return Machine(
        name, spec.harness, class_prefix(spec) + "Machine", stateful_tests_path(spec).as_posix()
    )


#: ``--role both``: the websockets server and client, where a harness has them.
BOTH: Final = ("server", "client")


def _roles(machine: Machine, role: str | None) -> tuple[str, ...]:
    """``--role`` for ``machine``: one of its harness's roles, ``all``, or ``both`` (the
    websockets server and client, where it has them); by default ``both`` where it
    has them, else its every role."""
    roles = machine.roles()
    has_both = set(BOTH) <= set(roles)
    if role is None:
        return BOTH if has_both else roles
    if role == "all":
        return roles
    if role == "both":
        if not has_both:
            raise ValueError(
                f"--role both: the {machine.name} machine's harness has no server and client "
                f"roles; its roles: {', '.join(roles)} (or all)"
            )
        return BOTH
    if role not in roles:
        choices = [*roles, "both", "all"] if has_both else [*roles, "all"]
        raise ValueError(
            f"--role: unknown role {role!r} of the {machine.name} machine; choose from "
            f"{', '.join(choices)}"
        )
    return (role,)


def _minutes(text: str) -> float:
    """``--minutes``: a finite number above 0 (0, a negative, NaN would run nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def _seconds(text: str) -> float:
    """``--close-timeout``: a finite number of seconds above 0."""
    return _minutes(text)


def _settle(text: str) -> float:
    """``--settle``: a finite number of seconds, 0 or above."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or above, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--target",
        help="fuzz this endpoint: a ws:// URL of a running server, or module:attribute naming "
        "an ASGI app or a websockets handler (served here on 127.0.0.1); default: this "
        "checkout's generated stateful tests",
    )
    parser.add_argument(
        "--path", default=None, help="the endpoint's path for a module:attribute target (/)"
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        help="directory put first on sys.path to import a module:attribute target (default: .)",
    )
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        choices=("websockets-sansio", "websockets", "wsproto"),
        help="uvicorn's WebSocket implementation for an ASGI app (default: websockets-sansio)",
    )
    parser.add_argument(
        "--kind",
        choices=("asgi", "websockets"),
        default=None,
        help="what a module:attribute target is, when its signature does not tell",
    )
    parser.add_argument(
        "--no-lifespan",
        dest="lifespan",
        action="store_false",
        help="do not run an ASGI app's lifespan (start-up and shut-down)",
    )
    parser.add_argument(
        "--connections",
        type=_positive_int,
        default=3,
        help="with --target: most client connections at once (default: 3)",
    )
    parser.add_argument(
        "--settle",
        type=_settle,
        default=0.005,
        help="with --target: seconds the endpoint gets to react after each event, before "
        "the checks (default: 0.005)",
    )
    parser.add_argument(
        "--close-timeout",
        type=_seconds,
        default=2.0,
        help="seconds the endpoint may take to answer a client's Close (default: 2)",
    )
    parser.add_argument(
        "--minutes",
        type=_minutes,
        default=1.0,
        help="how long to run, a positive number (default: 1)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="processes running campaigns side by side, sharing one example database "
        "(default: the number of cores)",
    )
    parser.add_argument(
        "--database",
        help="Hypothesis example database directory the workers share (default: a fresh "
        "temporary one)",
    )
    parser.add_argument(
        "--machine",
        metavar="NAME",
        default=None,
        help=(
            "without --target: whose generated stateful tests to run, a machine of spec/ "
            "with a harness: connection (default), client, session, link (a wrong name "
            "lists those of the checkout)"
        ),
    )
    parser.add_argument(
        "--role",
        default=None,
        help=(
            "without --target: which role of the machine's harness runs (a wrong name lists "
            "them), all (every role, alternating) or both (the websockets server and client, "
            "alternating: the connection's default; another machine's default is its every "
            "role)"
        ),
    )
    parser.add_argument(
        "--replay", type=int, metavar="SEED", help="run one chunk with this seed and stop"
    )
    parser.add_argument(
        "--examples",
        type=_positive_int,
        default=None,
        help=f"examples per chunk (default: {CHUNK}; with --target, {TARGET_CHUNK})",
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help=f"steps per example (default: {STEPS}; with --target, {TARGET_STEPS})",
    )


# --- what a worker runs -----------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A worker's campaign (picklable: it crosses to a spawned process)."""

    worker: int
    deadline: float  # time.time() at which to stop starting chunks
    examples: int
    steps: int
    database: str | None
    target: str | None
    path: str | None
    app_dir: str
    ws: str
    close_timeout: float
    roles: tuple[str, ...]
    root: str | None
    machine: Machine | None = None  # None with --target
    kind: Kind | None = None
    lifespan: bool = True
    connections: int = 3
    settle: float = 0.005
    #: The database a replay command may name: the one the user gave, not a temporary one.
    kept_database: str | None = None


@dataclass
class Failure:
    """One failing chunk."""

    role: str
    seed: int
    error: str
    replay: str = ""


@dataclass
class Progress:
    """What one worker has done so far (it sends a fresh one after each chunk)."""

    worker: int
    chunks: int = 0
    examples: int = 0
    steps: int = 0
    failures: list[Failure] = field(default_factory=list)
    coverage: dict[str, set[Any]] = field(default_factory=dict)
    done: bool = False
    crashed: str | None = None


def _no_checkout(path: Path) -> FileNotFoundError:
    """``path``: the generated tests not found, or a directory that is no checkout."""
    missing = (
        f"{path} is not a checkout of wsstate (no spec/*.toml)"
        if path.is_dir()
        else f"{path} not found"
    )
    return FileNotFoundError(
        f"{missing}: `wsstate fuzz` without --target runs this project's generated "
        "stateful tests, which only a checkout of wsstate has (run it in one, after "
        "`wsstate generate`); to fuzz an endpoint anywhere, give --target URL or "
        "--target module:app"
    )


def _load(root: Path, machine: Machine) -> ModuleType:
    path = root / machine.path
    if not path.is_file():
        raise _no_checkout(path)
    spec = importlib.util.spec_from_file_location(
        f"wsstate_generated_{machine.name}_stateful", path
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _generated_root(root: str | None) -> Path:
    from .paths import find_root

    if root:
        return Path(root)
    try:
        return find_root()
    except Exception:
        return Path.cwd()


def _settings(examples: int, steps: int, database: str | None) -> Any:
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    phases = [Phase.generate]  # shrinking real-socket runs is slow; replay by seed
    if database:
        phases.insert(0, Phase.reuse)
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=DirectoryBasedExampleDatabase(database) if database else None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        report_multiple_bugs=False,
    )


def _chunk(
    module: ModuleType,
    machine: Machine,
    role: str,
    seed: int,
    examples: int,
    steps: int,
    database: str | None = None,
) -> str | None:
    """Run one chunk of a generated machine's role; return the failure text, or None."""
    from hypothesis import seed as with_seed
    from hypothesis.stateful import run_state_machine_as_test

    # The generated module keeps each role's TestCase only: build the role's machine.
    name = machine.module().class_name(role)
    cls: Any = type(name, (getattr(module, machine.cls),), {"role": role})
    seeded = with_seed(seed)(cls)
    try:
        run_state_machine_as_test(seeded, settings=_settings(examples, steps, database))
    except Exception as exc:
        return _describe(exc)
    finally:
        seeded._hypothesis_internal_use_seed = None
    return None


def _describe(exc: BaseException) -> str:
    """The failure, with the first underlying error of an exception group."""
    text = f"{type(exc).__name__}: {exc}"
    inner = getattr(exc, "exceptions", None)
    if inner:
        text += "\n" + _describe(inner[0])
    return text


def _replay_generated(machine: Machine, seed: int, role: str, examples: int, steps: int) -> str:
    which = "" if machine.name == DEFAULT_MACHINE else f"--machine {machine.name} "
    return (
        f"wsstate fuzz {which}--replay {seed} --role {role} --examples {examples} "
        f"--steps {steps} "
        "--workers 1"
    )


def _options(job: Job) -> dict[str, Any]:
    """The job's options that :func:`wsstate.testing.fuzz` and its replay line share."""
    return {
        "examples": job.examples,
        "steps": job.steps,
        "path": job.path,
        "kind": job.kind,
        "uvicorn_ws": job.ws,
        "lifespan": job.lifespan,
        "close_timeout": job.close_timeout,
        "settle": job.settle,
        "connections": job.connections,
    }


def _fuzz_target(job: Job, seed: int, database: str | None) -> Any:
    """:func:`wsstate.testing.fuzz` with the job's options; its replay line is this
    command's (with the job's ``--app-dir`` as given)."""
    from wsstate.testing.endpoint import fuzz

    return fuzz(
        job.target,
        seed=seed,
        database=database,
        replay=lambda s: _replay_target(job, s),
        **_options(job),
    )


def _target_chunk(job: Job, seed: int) -> tuple[int, int, Failure | None]:
    """One chunk against the job's target: (examples, steps, failure or None)."""
    from wsstate.testing.endpoint import EndpointFailure

    try:
        report = _fuzz_target(job, seed, job.database)
    except EndpointFailure as failure:
        return (
            failure.example,
            len(failure.events),
            Failure("target", seed, str(failure), failure.replay),
        )
    return report.examples, report.steps, None


def _replay_target(job: Job, seed: int) -> str:
    from wsstate.testing.endpoint import replay_command

    assert job.target is not None
    return replay_command(
        job.target,
        seed=seed,
        app_dir=job.app_dir if job.app_dir != "." else None,
        database=job.kept_database,
        **_options(job),
    )


def _prepare(job: Job) -> ModuleType | None:
    """Import what the job runs: the generated module, or put the app dir on sys.path."""
    if job.target is None:
        assert job.machine is not None
        return _load(_generated_root(job.root), job.machine)
    if "://" not in job.target:
        sys.path.insert(0, str(Path(job.app_dir).resolve()))
    return None


def run_job(job: Job, report: Any) -> None:
    """A worker: chunks until the deadline, a :class:`Progress` to ``report`` after each."""
    progress = Progress(job.worker)
    try:
        module = _prepare(job)
        rng = random.Random()
        while time.time() < job.deadline:
            role = job.roles[(progress.chunks + job.worker) % len(job.roles)]
            seed = rng.randrange(2**32)
            if module is None:
                examples, steps, failure = _target_chunk(job, seed)
                progress.examples += examples
                progress.steps += steps
            else:
                machine = job.machine
                assert machine is not None
                harness = machine.module()
                error = _chunk(module, machine, role, seed, job.examples, job.steps, job.database)
                failure = None
                if error:
                    replay = _replay_generated(machine, seed, role, job.examples, job.steps)
                    failure = Failure(role, seed, error, replay)
                progress.examples = harness.STATS["examples"]
                progress.steps = harness.STATS["steps"]
                progress.coverage = {r: set(s) for r, s in harness.coverage().items()}
            progress.chunks += 1
            if failure is not None:
                progress.failures.append(failure)
            report(progress)
    except Exception as exc:
        progress.crashed = f"{type(exc).__name__}: {exc}"
    progress.done = True
    report(progress)


def _worker_main(job: Job, channel: Any) -> None:
    """Entry point of a spawned worker process."""
    run_job(job, channel.put)


# --- the parent: one display, one summary --------------------------------------------


def _coverage_line(coverage: dict[str, set[Any]], roles: tuple[str, ...], machine: Machine) -> str:
    harness = machine.module()
    parts = []
    for role in roles:
        drivable = set(harness.drivable_pairs(role))
        parts.append(f"{role} {len(coverage.get(role, set()) & drivable)}/{len(drivable)}")
    return "  ".join(parts)


def _campaign(jobs: list[Job], roles: tuple[str, ...], machine: Machine | None) -> int:
    """Run ``jobs`` (``machine``: their generated tests; None, a target); the exit status."""
    started = time.monotonic()
    latest: dict[int, Progress] = {}
    processes: list[Any] = []
    if len(jobs) == 1:  # in this process

        def local(progress: Progress) -> None:
            latest[progress.worker] = progress
            _display(latest, started, roles, machine)

        run_job(jobs[0], local)
    else:
        context = multiprocessing.get_context("spawn")
        channel = context.Queue()
        processes = [
            context.Process(target=_worker_main, args=(job, channel), daemon=True) for job in jobs
        ]
        for process in processes:
            process.start()
        last_shown = 0.0
        while len([p for p in latest.values() if p.done]) < len(jobs):
            try:
                progress: Progress = channel.get(timeout=PROGRESS_EVERY)
                latest[progress.worker] = progress
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and channel.empty():
                    break
            now = time.monotonic()
            if now - last_shown >= PROGRESS_EVERY:
                _display(latest, started, roles, machine)
                last_shown = now
        for process in processes:
            process.join(timeout=30)
    return _summary(latest, started, roles, machine, len(jobs))


def _totals(latest: dict[int, Progress]) -> tuple[int, int, int, list[Failure]]:
    chunks = sum(p.chunks for p in latest.values())
    examples = sum(p.examples for p in latest.values())
    steps = sum(p.steps for p in latest.values())
    failures = [f for p in latest.values() for f in p.failures]
    return chunks, examples, steps, failures


def _union(latest: dict[int, Progress]) -> dict[str, set[Any]]:
    union: dict[str, set[Any]] = {}
    for progress in latest.values():
        for role, pairs in progress.coverage.items():
            union.setdefault(role, set()).update(pairs)
    return union


def _display(
    latest: dict[int, Progress],
    started: float,
    roles: tuple[str, ...],
    machine: Machine | None,
) -> None:
    chunks, examples, steps, failures = _totals(latest)
    elapsed = time.monotonic() - started
    rate = steps / elapsed if elapsed > 0 else 0.0
    line = (
        f"[{elapsed:6.1f}s] workers {len(latest)}  chunks {chunks:4d}  examples {examples:6d}  "
        f"steps {steps:7d}  steps/s {rate:7.1f}"
    )
    if machine is not None:
        line += f"  coverage {_coverage_line(_union(latest), roles, machine)}"
    print(f"{line}  failures {len(failures)}", flush=True)


def _summary(
    latest: dict[int, Progress],
    started: float,
    roles: tuple[str, ...],
    machine: Machine | None,
    workers: int,
) -> int:
    chunks, examples, steps, failures = _totals(latest)
    elapsed = time.monotonic() - started
    print()
    print(f"fuzz summary after {elapsed:.0f} s on {workers} worker(s)")
    print(f"  examples: {examples}, steps: {steps}, chunks: {chunks}")
    if elapsed > 0:
        print(f"  steps per second: {steps / elapsed:.1f}")
        if workers > 1:  # whether each worker kept its pace beside the others
            rates = ", ".join(
                f"worker {w}: {latest[w].steps / elapsed:.1f}" if w in latest else f"worker {w}: -"
                for w in range(workers)
            )
            print(f"  steps per second by worker: {rates}")
    if machine is not None:
        print(f"  transition coverage: {_coverage_line(_union(latest), roles, machine)}")
    crashed = [p for p in latest.values() if p.crashed]
    for progress in crashed:
        print(f"  worker {progress.worker} stopped: {progress.crashed}")
    print(f"  failures: {len(failures)}")
    for failure in failures:
        first = failure.error.splitlines()[0] if failure.error else ""
        print(f"    {failure.role} seed {failure.seed}: {first}")
        print(f"      replay: {failure.replay}")
    if failures:
        print("\nfirst failure in full:\n" + failures[0].error)
    return 1 if failures or crashed else 0


def _replay(
    args: argparse.Namespace, roles: tuple[str, ...], steps: int, machine: Machine | None
) -> int:
    if machine is None:
        job = _job(args, 0, 0.0, args.database, roles, steps, None)
        _prepare(job)
        from wsstate.testing.endpoint import EndpointFailure

        try:
            report = _fuzz_target(job, args.replay, job.database)
        except EndpointFailure as failure:
            print(f"replay seed {args.replay}: FAILED")
            print(failure)
            return 1
        print(
            f"replay seed {args.replay}: passed ({report.examples} examples, {report.steps} steps)"
        )
        return 0
    module = _load(_generated_root(args.root), machine)
    failed = False
    for role in roles:
        error = _chunk(module, machine, role, args.replay, args.examples, steps)
        print(f"replay seed {args.replay} ({role}): {'FAILED' if error else 'passed'}")
        if error:
            print(error)
            failed = True
    return 1 if failed else 0


def _job(
    args: argparse.Namespace,
    worker: int,
    deadline: float,
    database: str | None,
    roles: tuple[str, ...],
    steps: int,
    machine: Machine | None,
) -> Job:
    return Job(
        worker=worker,
        deadline=deadline,
        examples=args.examples,
        steps=steps,
        database=database,
        target=args.target,
        path=args.path,
        app_dir=args.app_dir,
        ws=args.ws,
        close_timeout=args.close_timeout,
        roles=roles,
        root=getattr(args, "root", None),
        machine=machine,
        kind=args.kind,
        lifespan=args.lifespan,
        connections=args.connections,
        settle=args.settle,
        kept_database=args.database,
    )


def main(args: argparse.Namespace) -> int:
    """Run the campaign (or one replay); exit 1 if anything failed."""
    from wsstate.testing._extra import require_testing_extra

    try:  # before any import of it, and before any worker starts
        require_testing_extra("wsstate fuzz")
    except ModuleNotFoundError as exc:
        print(f"wsstate fuzz: {exc}", file=sys.stderr)
        return 2
    if args.target is not None:
        from wsstate.testing.targets import resolve_target

        if "://" not in args.target:
            sys.path.insert(0, str(Path(args.app_dir).resolve()))
        try:  # a bad target is a usage error, before any worker
            resolve_target(args.target, args.kind)
        except (TypeError, ValueError) as exc:
            print(f"wsstate fuzz: {exc}", file=sys.stderr)
            return 2
        given = [f"--{o}" for o in ("machine", "role") if getattr(args, o) is not None]
        if given:
            print(
                f"wsstate fuzz: {' and '.join(given)}: for the generated stateful tests, "
                "not with --target",
                file=sys.stderr,
            )
            return 2
        if args.path is not None and "://" in args.target:
            print("wsstate fuzz: --path is for module:attribute targets", file=sys.stderr)
            return 2
        if args.path is not None and not args.path.startswith("/"):
            print(f"wsstate fuzz: --path must start with '/', not {args.path!r}", file=sys.stderr)
            return 2
        roles: tuple[str, ...] = ("target",)
        machine: Machine | None = None
        steps = args.steps or TARGET_STEPS
        args.examples = args.examples or TARGET_CHUNK
    else:
        root = _generated_root(getattr(args, "root", None))
        try:  # a bad machine or role is a usage error, before any worker
            machine = _machine(root, args.machine or DEFAULT_MACHINE)
            roles = _roles(machine, args.role)
        except ValueError as exc:
            print(f"wsstate fuzz: {exc}", file=sys.stderr)
            return 2
        steps = args.steps or STEPS
        args.examples = args.examples or CHUNK
        _load(root, machine)  # fails early without the generated tests
    if args.replay is not None:
        return _replay(args, roles, steps, machine)
    deadline = time.time() + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="wsstate-fuzz-db-") as scratch:
        database = args.database or scratch
        jobs = [
            _job(args, w, deadline, database, roles, steps, machine) for w in range(args.workers)
        ]
        what = args.target or (
            f"generated stateful tests of the {machine.name} machine ({', '.join(roles)})"
            if machine is not None
            else ""
        )
        print(
            f"wsstate fuzz: {what}"
            f" for {args.minutes:g} min on {args.workers} worker(s), example database {database}",
            flush=True,
        )
        return _campaign(jobs, roles, machine)
