"""``algd-train``: train any registered algorithm from the command line, from any folder.

    algd-train algo=algd env.name=SafetyHopperVelocity-v1 collector.total_frames=20000
    algd-train algo=sac_lag -m env.seed=0,1,2          # a Hydra multirun
    algd-train resume=outputs/algd/2026-12-02_01-00-00 collector.total_frames=200000

``algo=`` picks the algorithm (default ``algd``; with ``resume=`` the checkpoint's); every
other argument is a Hydra override of that algorithm's config.  A bad value ends the
command with one ``error:`` line and exit status 2 before anything is written.
"""
from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

import yaml

from .algorithms import compose_config
from .config import ConfigError, require

__all__ = ["train_main", "precheck", "exit_on_config_error", "hydra_task"]

CONFIG_PATH = "pkg://algd_components.conf"


@contextlib.contextmanager
def exit_on_config_error():
    """A :class:`ConfigError` inside the block ends the process with one line and exit
    status 2; a :class:`~algd_components.updates.NonFiniteError` (training diverged) with one
    line and exit status 3."""
    from .training.interrupt import Interrupted
    from .training.loop import TrainingStopped
    from .updates import NonFiniteError

    try:
        yield
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except NonFiniteError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(3)
    except TrainingStopped as err:  # SIGINT / SIGTERM: saved at an update boundary
        print(f"stopped: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except (Interrupted, KeyboardInterrupt) as err:  # a second signal, or one before training started
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"stopped: {signal.Signals(signum).name} ({err or 'before training started'}); the last checkpoint "
              "is whole", file=sys.stderr)
        sys.exit(128 + signum)


_FLAG_VALUE = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "--experimental-rerun", "-p",
               "--package"}
_FLAG_CHOICES = {"-c": {"job", "hydra", "all"}, "--cfg": {"job", "hydra", "all"},
                 "-i": {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"},
                 "--info": {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}}


def split_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """Hydra's command-line flags (with their values) and the overrides, in their orders:
    Hydra's parser wants the flags before the overrides."""
    flags, overrides, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            flags.append(a)
            if "=" not in a and i + 1 < len(argv) and (a in _FLAG_VALUE or argv[i + 1] in _FLAG_CHOICES.get(a, ())):
                flags.append(argv[i + 1])
                i += 1
        else:
            overrides.append(a)
        i += 1
    return flags, overrides


def _is_hydra_arg(arg: str) -> bool:
    return arg.startswith("-") or arg.lstrip("+~").startswith(("hydra.", "hydra/"))


def _algo_of(overrides: list[str]) -> str:
    for o in overrides:
        if o.startswith("algo="):
            return o.split("=", 1)[1]
    for o in overrides:  # resume=RUN: the run's own algorithm
        if o.startswith("resume="):
            config = Path(o.split("=", 1)[1]).expanduser()
            config = (config if config.is_dir() else config.parent) / "config.yaml"
            if config.is_file():
                algo = (yaml.safe_load(config.read_text()) or {}).get("algo")
                if algo:
                    return algo
    return "algd"


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override lists of a ``-m`` sweep's jobs (Hydra's basic sweeper: the product of the
    comma-separated and range/choice sweeps), each as plain ``key=value`` overrides."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(job) for job in itertools.product(*choices)]


def precheck(algo: str, argv: list[str]) -> None:
    """Compose and check the config ``argv`` asks for — every job of a ``-m`` sweep — and,
    with ``resume=``, the checkpoint it names, so a bad value ends with one line before Hydra
    creates a run or sweep folder."""
    from . import algorithms
    from .training.resume import override_keys, resolve_run

    flags, overrides = split_flags(argv)
    own = [a for a in overrides if not _is_hydra_arg(a)]
    with exit_on_config_error():
        named = [o.split("=", 1)[1] for o in own if o.startswith("algo=")]
        if named:  # a variant of the same config (a recipe run with algo=lgd), nothing else
            config = algorithms.get(algo).config
            spec = algorithms.get(named[-1])
            require(spec.config == config, "algo", spec.name,
                    f"an algorithm of the {config!r} config here (use algd-train algo={spec.name})")
            algo = spec.name
        try:
            jobs = sweep_jobs(own) if ("-m" in flags or "--multirun" in flags) else [own]
        except Exception as err:  # Hydra's override grammar
            raise ConfigError(f"cannot parse the overrides: {str(err).splitlines()[0]}") from None
        for job in jobs:
            cfg = compose_config(algo, job)
            if cfg.resume and cfg.resume != "auto":  # keys named on the command line are checked even at their default
                algorithms.validate(resolve_run(cfg, ".", override_keys(job), lazy=True)[0])


def _resume_run_dir(flags: list[str], overrides: list[str]) -> list[str]:
    """``resume=RUN`` continues in RUN: Hydra's own files go there too (``.hydra_resumed/``, the
    original ``.hydra/`` kept), instead of into a new, otherwise empty
    ``outputs/<exp>/<time>/`` folder.  Nothing when the command names ``hydra.run.dir`` itself,
    for sweeps, and for ``resume=auto`` (the run folder is Hydra's)."""
    from .training.checkpoints import resolve_checkpoint

    resume = [o.split("=", 1)[1] for o in overrides if o.startswith("resume=")]
    if (not resume or resume[-1] in ("auto", "null", "") or "-m" in flags or "--multirun" in flags
            or any(o.startswith("hydra.run.dir=") for o in overrides)):
        return []
    run_dir = resolve_checkpoint(resume[-1]).parent.resolve()  # checked to exist by precheck
    return [f"hydra.run.dir={run_dir}", "hydra.output_subdir=.hydra_resumed"]


def hydra_task(cfg) -> None:
    """What a Hydra job runs: :func:`algd_components.train` into Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig

    from .training import train

    from .training.resume import override_keys

    hydra = HydraConfig.get()
    with exit_on_config_error():  # the command line's keys apply on a resume even at their defaults
        train(cfg, hydra.runtime.output_dir, explicit=override_keys(hydra.overrides.task))


DOCS = ("README.md (three ways in), docs/recipes.md (every key and the recipes), docs/components.md (the parts), "
        "and the API reference (make docs -> docs/_build/html/index.html)")


def config_groups(algo: str) -> dict[str, tuple[str, list[str]]]:
    """``{group: (chosen option, all options)}`` of the config groups in algorithm ``algo``'s
    preset (``conf/<config>.yaml``'s defaults list, with the variant's own ``group=option``
    overrides): what ``GROUP=OPTION`` can pick for it.  Read from the YAML files, not composed
    (seven Hydra compositions cost seconds); empty for a config that is not a package file."""
    from importlib import resources

    from . import algorithms

    spec = algorithms.get(algo)
    conf = resources.files("algd_components.conf")
    preset = conf / f"{spec.config}.yaml"
    if not preset.is_file():
        return {}
    groups = {}
    for entry in (yaml.safe_load(preset.read_text()) or {}).get("defaults", []):
        if isinstance(entry, dict):
            (group, option), = entry.items()
            if not group.startswith(("override", "hydra")) and (conf / group).is_dir():
                groups[group] = str(option)
    for o in spec.overrides:
        key, _, value = o.partition("=")
        if key in groups:
            groups[key] = value
    return {g: (c, sorted(f.name[:-5] for f in (conf / g).iterdir() if f.name.endswith(".yaml")))
            for g, c in groups.items()}


def help_text(prog: str = "algd-train", algo: str = "algd", overrides: list[str] | None = None) -> str:
    """``algd-train --help``: what the command is, every registered algorithm with its one-line
    description and the config groups that apply to it, then ``algo``'s config (with
    ``overrides`` applied) and where the docs are."""
    from omegaconf import OmegaConf

    from . import algorithms

    lines = [f"{prog}: train one of algd-components' algorithms; every argument is a Hydra override.", "",
             f"usage: {prog} [algo=NAME] [GROUP=OPTION ...] [KEY=VALUE ...]",
             f"       {prog} -m KEY=A,B ...                   a sweep (Hydra multirun, one run per value)",
             f"       {prog} resume=RUN [collector.total_frames=N]   continue a run where it stopped",
             f"       {prog} algo=NAME --help                 NAME's config", "",
             "algorithms (algo=NAME, default algd):"]
    width = max(len(n) for n in algorithms.names())
    for name in algorithms.names():
        spec = algorithms.get(name)
        lines.append(f"  {name:<{width}}  {spec.description or '(no description)'}")
        try:
            groups = config_groups(name)
        except Exception:  # a user's algorithm whose config this process cannot compose: listed, without groups
            groups = {}
        if groups:
            lines.append(f"  {'':<{width}}  groups: " + "  ".join(f"{g}={c} ({'|'.join(o)})" for g, (c, o) in groups.items()))
    cfg = compose_config(algo, [o for o in overrides or () if not o.startswith("algo=")])
    lines += ["", f"config of algo={algo} (override any key as KEY=VALUE):", "",
              OmegaConf.to_yaml(cfg, resolve=True).rstrip(), "", f"docs: {DOCS}", f"Hydra's own flags: {prog} --hydra-help"]
    return "\n".join(lines)


def train_main(argv: list[str] | None = None) -> None:
    """The ``algd-train`` console script."""
    from . import algorithms

    argv = list(sys.argv[1:] if argv is None else argv)
    flags, overrides = split_flags(argv)
    algo = _algo_of(overrides)
    with exit_on_config_error():
        spec = algorithms.get(algo)
        if "--help" in flags or "-h" in flags:
            print(help_text("algd-train", spec.name, overrides))
            return
        import hydra

        precheck(algo, argv)
        resume_dir = _resume_run_dir(flags, overrides)
        _lock_named_run_dir(flags, [*overrides, *resume_dir])
        sys.argv = [sys.argv[0], *flags, *spec.overrides, f"algo={algo}",
                    *(a for a in overrides if not a.startswith("algo=")), *resume_dir]
        hydra.main(config_path=CONFIG_PATH, config_name=spec.config, version_base="1.3")(hydra_task)()


def _lock_named_run_dir(flags: list[str], overrides: list[str]) -> None:
    """Take the run folder's lock before Hydra writes its own files there, when the command
    names the folder (``hydra.run.dir=``, or ``resume=``'s); a second run into it ends here
    with one line. Not for sweeps (each job's folder is locked by its own train)."""
    from .training.run_lock import lock_run_dir

    named = [o.split("=", 1)[1] for o in overrides if o.startswith("hydra.run.dir=")]
    if named and "${" in named[-1]:  # an interpolation Hydra resolves (outputs/${now:...}): train() locks it
        return
    if named and not ("-m" in flags or "--multirun" in flags) and not any(f in flags for f in ("--cfg", "-c", "--help", "-h", "--info", "-i")):
        lock_run_dir(named[-1])


if __name__ == "__main__":
    train_main()
