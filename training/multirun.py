"""Hydra's multirun on every Hydra-configured command, through Hydra's own sweeper and launcher.

    earlyexp pipeline -m env=household,bfcl seed=range(0,3)
    earlyexp pipeline -m hydra/launcher=joblib hydra.launcher.n_jobs=2 seed=0,1

The overrides go to `Hydra.multirun`, what `@hydra.main` runs for `-m`: the configured
sweeper (Hydra's BasicSweeper unless `hydra/sweeper=...` names an installed plugin) makes
the points, and the configured launcher (one after another in this process unless
`hydra/launcher=...` names an installed plugin: joblib, submitit, ray, rq) runs each as
`earlyexp <command> <that point's overrides>` (`CommandJob`), so a point composes and
checks its config exactly as a single run does.

Checks, in order: the overrides' syntax (Hydra's OverridesParser), then every point of
the sweep they spell (BasicSweeper's cartesian product; with an optimising sweeper only
the fixed overrides) is composed before any job starts, so an unknown key or config-group
option is refused naming the key. A point that fails later (a value its schema rejects,
an error in its run) is reported with its exit code and the others still run; a table
of every job ends the sweep. A launcher that runs jobs in local processes at once
(joblib) gives each job `total // jobs at once` threads (`earlyexp/threads.py`); under
other launchers (submitit_local, ray: both tested) each job takes its fair share of the
machine from the thread ledger, as any earlyexp run does.
Hydra writes each job's composed config under `hydra.sweep.dir` (default here
`runs/multirun/<command>/<date>_<time>/<job>`), next to `earlyexp_job.json` (overrides,
exit code, process id, threads); logging stays the CLI's own unless
`hydra/job_logging=...` is given.

Optimising sweepers (optuna, ax, nevergrad) optimise what `--objective NAME` names: a
number the finished job wrote (`OBJECTIVE_SOURCES`: evaluate's summary, e.g. `success`;
a pipeline's results, `<method>/<before_rl|after_rl>/<split>/<metric>`). The job returns
it (NaN when the job failed, which the sweeper records as a failed trial), its job file
and the sweep's table show it. Without `--objective` a job returns its exit code.

    earlyexp pipeline -m --objective il/before_rl/test/success hydra/sweeper=optuna \
        hydra.sweeper.n_trials=8 'train.learning_rate=tag(log,interval(1e-4,1e-2))'
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from earlyexp.errors import ConfigError, EarlyExpError

MULTIRUN_FLAGS = ("-m", "--multirun")
OBJECTIVE_FLAG = "--objective"
#: What each job leaves in its Hydra output directory: command, overrides, exit code,
#: the process it ran in and its thread budget.
JOB_FILE = "earlyexp_job.json"
HYDRA_VERSION_BASE = "1.3"  # jobs run in the current directory (Hydra >= 1.2 semantics)
#: Hydra settings that apply unless the user gives the same key.
HYDRA_DEFAULTS = {
    "hydra.sweep.dir": "runs/multirun/{command}/${{now:%Y-%m-%d_%H-%M-%S}}",
    "hydra/job_logging": "none",      # the CLI configures logging; Hydra would reset it
    "hydra/hydra_logging": "none",
}
#: plugin option -> the package that provides it (for the error when it is missing)
PLUGIN_PACKAGES = {
    "hydra/launcher": {"joblib": "hydra-joblib-launcher", "ray": "hydra-ray-launcher",
                       "submitit_local": "hydra-submitit-launcher",
                       "submitit_slurm": "hydra-submitit-launcher", "rq": "hydra-rq-launcher"},
    "hydra/sweeper": {"optuna": "hydra-optuna-sweeper", "ax": "hydra-ax-sweeper",
                      "nevergrad": "hydra-nevergrad-sweeper"},
}
UNSUPPORTED_SWEEPS = ("IntervalSweep",)  # continuous ranges are for optimising sweepers


# --- the points of a sweep ------------------------------------------------------------
def parse_overrides(overrides: list[str]) -> list:
    """Hydra's parse of `overrides`; a syntax error becomes a ConfigError."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        raise ConfigError("overrides", " ".join(overrides), str(e).splitlines()[0]) from e


def is_hydra_key(key: str) -> bool:
    """Whether an override sets Hydra itself (its launcher, sweeper, output dirs)."""
    return key == "hydra" or key.startswith(("hydra/", "hydra."))


def sweep_points(command: str, args: list[str]) -> list[list[str]]:
    """The override lists of a sweep, in Hydra's BasicSweeper order (the cartesian product,
    the last key varying fastest): `a,b`, `choice(a,b)`, `range(0,3)` and `glob(*)` over a
    config group. Hydra's own keys are left out (they configure the sweep, not a point);
    leading words without `=` (serve's environment name) are kept in every point."""
    import itertools

    positional = [a for a in args if "=" not in a]
    axes = []
    for override in parse_overrides([a for a in args if "=" in a]):
        key = override.get_key_element()
        if is_hydra_key(override.key_or_group):
            continue
        if not override.is_sweep_override():
            axes.append([override.input_line])
            continue
        if type(override.value()).__name__ in UNSUPPORTED_SWEEPS:
            raise ConfigError(key, override.input_line.partition("=")[2], "a continuous "
                              "interval needs an optimising sweeper (hydra/sweeper=optuna, "
                              "pip install hydra-optuna-sweeper); otherwise list the values "
                              "(a,b,c) or use range(start,stop,step)")
        axes.append([f"{key}={value}" for value in _sweep_values(override)])
    return [[*positional, *point] for point in itertools.product(*axes)]


def _sweep_values(override) -> list[str]:
    from hydra.core.override_parser.types import Glob

    value = override.value()
    if isinstance(value, Glob):  # glob(*) over the options of a config group
        from importlib.resources import files

        from earlyexp.training.config import CONFIG_MODULE
        group = files(CONFIG_MODULE).joinpath(override.key_or_group)
        names = sorted(p.name[:-5] for p in group.iterdir() if p.name.endswith(".yaml")) \
            if group.is_dir() else []
        return value.filter(names)
    return list(override.sweep_string_iterator())


def refuse_unswept(args: list[str]) -> None:
    """A sweep value given without -m: say so instead of Hydra's 'Ambiguous value'."""
    from hydra.errors import HydraException

    if any(_is_objective_flag(a) for a in args):
        raise ConfigError(OBJECTIVE_FLAG, None, "names what a sweep optimises: add -m "
                                                "(earlyexp <command> -m --objective NAME ...)")
    try:
        parsed = parse_overrides([a for a in args if "=" in a])
    except (ConfigError, HydraException):
        return  # composing the config reports the bad override, naming it
    for override in parsed:
        if override.is_sweep_override():
            raise ConfigError(override.get_key_element(), override.input_line.partition("=")[2],
                              "is a sweep over several values: add -m (earlyexp <command> "
                              "-m ...) to run one job per value")


def with_hydra_defaults(command: str, overrides: list[str]) -> list[str]:
    """`overrides` after the HYDRA_DEFAULTS the user did not set themselves."""
    given = {o.partition("=")[0].lstrip("+~") for o in overrides}
    return [*(f"{key}={value.format(command=command)}" for key, value in HYDRA_DEFAULTS.items()
              if key not in given), *overrides]


def uses_basic_sweeper(overrides: list[str]) -> bool:
    """Whether the sweep's points are BasicSweeper's (no `hydra/sweeper=` plugin chosen)."""
    chosen = [o.partition("=")[2] for o in overrides if o.startswith("hydra/sweeper=")]
    return not chosen or chosen[-1] == "basic"


def check_points(config_name: str, points: list[list[str]]) -> None:
    """Compose every point before any job runs: an unknown key or group option is refused
    here, naming the key (values are checked by each job, so one bad value fails one job)."""
    from earlyexp.training.config import compose_config

    for point in points:
        compose_config(config_name, [o for o in point if "=" in o])


# --- what an optimising sweeper optimises --------------------------------------------------
def _numbers(mapping: dict, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{key}": float(value) for key, value in mapping.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def evaluate_result(cfg) -> Path:
    if not cfg.out:
        raise ConfigError("out", None, "--objective reads the evaluation summary from `out`: "
                                       "set out=PATH (e.g. out=runs/sweep/${seed}.json)")
    return Path(cfg.out)


def evaluate_objectives(result: dict) -> dict[str, float]:
    """`earlyexp evaluate`: the summary it wrote to `out` (success, score, pass@k ...)."""
    return _numbers(result["summary"])


def pipeline_objectives(result: dict) -> dict[str, float]:
    """`earlyexp pipeline`: every result row of run.json, named
    `<method>/<before_rl|after_rl>/<split>/<metric>`."""
    named: dict[str, float] = {}
    for row in result["results"]:
        named |= _numbers(row, f"{row['warmstart']}/{row['phase']}/{row['split']}/")
    return named


#: command -> (where a finished job wrote its results, the numbers they offer as --objective)
OBJECTIVE_SOURCES = {
    "evaluate": (evaluate_result, evaluate_objectives),
    "pipeline": (lambda cfg: Path(cfg.run_dir) / "run.json", pipeline_objectives),
}


def _is_objective_flag(arg: str) -> bool:
    return arg == OBJECTIVE_FLAG or arg.startswith(OBJECTIVE_FLAG + "=")


def split_objective(command: str, args: list[str]) -> tuple[str | None, list[str]]:
    """`--objective NAME` (or `--objective=NAME`) taken out of `args`; refused for a
    command that writes no numbers to optimise."""
    name, rest, i = None, [], 0
    while i < len(args):
        arg = args[i]
        if _is_objective_flag(arg):
            name = arg.partition("=")[2] if "=" in arg else (args[i + 1] if i + 1 < len(args)
                                                             else "")
            i += 1 if "=" in arg else 2
            continue
        rest.append(arg)
        i += 1
    if name is not None and (not name or command not in OBJECTIVE_SOURCES):
        raise ConfigError(OBJECTIVE_FLAG, name or None,
                          f"name a number the job writes; commands with objectives: "
                          f"{sorted(OBJECTIVE_SOURCES)} (e.g. --objective success for "
                          "evaluate, --objective il/after_rl/test/success for pipeline)")
    return name, rest


def result_path(command: str, point: list[str]) -> Path:
    """Where the job with overrides `point` writes its results (refused before any job
    runs when it writes them nowhere, e.g. evaluate without `out`)."""
    from earlyexp.training.cli import CONFIGS
    from earlyexp.training.config import compose_config

    cfg = compose_config(CONFIGS[command][0], [o for o in point if "=" in o])
    return OBJECTIVE_SOURCES[command][0](cfg)


def read_objective(command: str, point: list[str], name: str) -> float:
    """The value named `name` that the finished job with overrides `point` wrote."""
    from earlyexp.errors import closest

    result = json.loads(result_path(command, point).read_text())
    named = OBJECTIVE_SOURCES[command][1](result)
    if name not in named:
        raise ConfigError(OBJECTIVE_FLAG, name, f"this job wrote no such number."
                          f"{closest(name, named)} It wrote: {', '.join(sorted(named))}")
    return named[name]


# --- running through Hydra --------------------------------------------------------------
def jobs_at_once(launcher: Any, cores: int) -> int | None:
    """How many jobs a launcher runs at once in local processes (None: not a local
    parallel launcher, so jobs keep the run's budget)."""
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher"):
        n_jobs = int(launcher.get("n_jobs") or 1)
        return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)  # joblib: -1 = every core
    return None


@dataclass
class CommandJob:
    """Hydra's task function: runs `earlyexp <command>` with the job's own overrides.
    Picklable, for launchers that run jobs in other processes."""

    command: str
    positional: tuple[str, ...] = ()
    threads: int | None = None  # this job's EARLYEXP_THREADS (a local parallel launcher)
    objective: str | None = None  # --objective: return this number instead of the exit code

    def __call__(self, cfg) -> int | float:
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.hydra_config import HydraConfig

        from earlyexp import threads
        from earlyexp.training.cli import COMMANDS, console

        job = HydraConfig.get().job
        point = [*self.positional, *HydraConfig.get().overrides.task]
        if self.threads:
            os.environ[threads.ENV_VAR] = str(self.threads)
            threads.apply(self.threads)
        if mp.get_start_method(allow_none=True) not in mp.get_all_start_methods():
            # a launcher's own start method (joblib's "loky") is unknown to the processes
            # the command spawns (collection workers): they would die at start
            mp.set_start_method(None, force=True)
        console.print(f"[bold]multirun job {job.num}[/bold]: earlyexp {self.command} "
                      f"{_escape(' '.join(point))}", highlight=False)
        global_hydra = GlobalHydra.instance()
        sweep_hydra = global_hydra.hydra
        global_hydra.clear()  # the command composes its own config, as a single run does
        code: int | str = 1
        value = math.nan  # the objective of a failed job: the sweeper's failed trial
        try:
            code = COMMANDS[self.command](point)
            if self.objective and code == 0:
                value = read_objective(self.command, point, self.objective)
        except EarlyExpError as e:
            console.print(f"[red]error:[/red] {_escape(str(e))}", highlight=False)
            code = 2
        except Exception:  # noqa: BLE001 - one failing job must not stop the sweep
            console.print(_escape(traceback.format_exc()), highlight=False)
            code = 1
        finally:
            global_hydra.clear()
            if sweep_hydra is not None:
                global_hydra.initialize(sweep_hydra)
            record = {"command": self.command, "overrides": point, "exit_code": code,
                      "pid": os.getpid(), "threads": threads.total_threads()}
            if self.objective:
                record["objective"] = {self.objective: None if math.isnan(value) else value}
            job_dir = Path(HydraConfig.get().runtime.output_dir)
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / JOB_FILE).write_text(json.dumps(record, indent=1))
        return value if self.objective else code


def _escape(text: str) -> str:
    from rich.markup import escape
    return escape(text)


def hydra_error(error: Exception, overrides: list[str]) -> ConfigError:
    """A Hydra failure to set up the sweep as a ConfigError naming the override; a missing
    launcher or sweeper plugin names the package that provides it."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for override in reversed(overrides):
        group, _, option = override.partition("=")
        if group in PLUGIN_PACKAGES and option in text:
            package = PLUGIN_PACKAGES[group].get(option)
            fix = f"pip install {package}" if package else "check the name"
            return ConfigError(group, option, f"no such Hydra plugin installed ({fix}); "
                                              f"{text}")
    return ConfigError("overrides", " ".join(overrides), text)


def launch(command: str, config_name: str, args: list[str], objective: str | None = None
           ) -> list[tuple[list[str], dict]]:
    """Run the sweep through Hydra; returns `(overrides, job record)` per job: the job's
    JOB_FILE (exit code, objective), or the launcher's error where the job wrote none."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.types import RunMode

    from earlyexp import threads
    from earlyexp.training.config import CONFIG_MODULE, register_schema

    positional = tuple(a for a in args if "=" not in a)
    overrides = with_hydra_defaults(command, [a for a in args if "=" in a])
    version.setbase(HYDRA_VERSION_BASE)
    register_schema(config_name)  # configs/<name>.yaml starts from its dataclass
    GlobalHydra.instance().clear()
    app = Hydra.create_main_hydra2(command, create_config_search_path(f"pkg://{CONFIG_MODULE}"))
    try:
        try:
            cfg = app.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN,
                                     with_log_configuration=False)
        except HydraException as e:
            raise hydra_error(e, overrides) from e
        at_once = jobs_at_once(cfg.hydra.launcher, threads.machine_cores())
        per_job = max(1, threads.total_threads() // at_once) if at_once else None
        returns = app.multirun(config_name, CommandJob(command, positional, per_job, objective),
                               overrides, with_log_configuration=False)
        sweep_dir = Path(str(cfg.hydra.sweep.dir))
    finally:
        GlobalHydra.instance().clear()
    jobs = [(list(r.overrides or []), _record(r)) for r in _job_returns(returns)]
    return jobs or _recorded_jobs(sweep_dir)


def _recorded_jobs(sweep_dir: Path) -> list[tuple[list[str], dict]]:
    """The job files under `sweep_dir`, in job order: what an optimising sweeper ran
    (Hydra's optuna sweeper returns no JobReturns)."""
    def number(path: Path) -> tuple:
        name = path.parent.name
        return (0, int(name), "") if name.isdigit() else (1, 0, name)

    records = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob(f"*/{JOB_FILE}"),
                                                          key=number)]
    return [(r["overrides"], r) for r in records]


def _job_returns(returns: Any) -> list:
    """The JobReturns a sweeper hands back (BasicSweeper: one list per batch; optimising
    sweepers may return nothing)."""
    from hydra.core.utils import JobReturn

    if isinstance(returns, JobReturn):
        return [returns]
    if not isinstance(returns, (list, tuple)):
        return []
    return [r for item in returns for r in _job_returns(item)]


def _record(job) -> dict:
    from hydra.core.utils import JobStatus

    if job.status == JobStatus.FAILED:  # raised outside the command (the launcher's side)
        return {"exit_code": f"failed: {job._return_value!r}"}
    path = Path(job.working_dir or ".") / JOB_FILE
    return json.loads(path.read_text()) if path.is_file() else {"exit_code": job.return_value}


def run_multirun(console: Console, command: str, config_name: str, args: list[str]) -> int:
    """Check the sweep, run it through Hydra's sweeper and launcher (each job runs the
    registered command, in whatever process the launcher chose), print a table of the
    jobs. Returns 0 when every job succeeded, else 1."""
    objective, args = split_objective(command, args)
    overrides = [a for a in args if "=" in a]
    if uses_basic_sweeper(overrides):
        points = sweep_points(command, args)
    else:  # an optimising sweeper chooses the points: check the fixed overrides
        points = [[o.input_line for o in parse_overrides(overrides)
                   if not o.is_sweep_override() and not is_hydra_key(o.key_or_group)]]
    check_points(config_name, points)
    if objective:
        result_path(command, points[0])  # evaluate without `out`: refused before any job
    jobs = launch(command, config_name, args, objective)
    table = Table(title=f"multirun: {len(jobs)} jobs of earlyexp {command}")
    for column in ("#", "overrides", "exit code", *([objective] if objective else [])):
        table.add_column(column)
    for i, (point, record) in enumerate(jobs):
        value = [str((record.get("objective") or {}).get(objective))] if objective else []
        table.add_row(str(i + 1), _escape(" ".join(point)), _escape(str(record["exit_code"])),
                      *value)
    console.print(table)
    return 0 if jobs and all(record["exit_code"] == 0 for _, record in jobs) else 1
