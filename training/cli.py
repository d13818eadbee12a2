"""The `earlyexp` command line: `earlyexp <command> [key=value ...]`.

Each command is a function registered in `COMMANDS`; its arguments are Hydra
overrides of `configs/<command>.yaml` (for example `earlyexp collect
env=textworld k=4 num_workers=2`). `earlyexp help` lists the commands.
"""
from __future__ import annotations

import logging
import sys
import warnings
from typing import Callable

from rich.console import Console

from earlyexp.errors import EarlyExpError

console = Console()
COMMANDS: dict[str, Callable[[list[str]], int]] = {}
# command -> (configs/<name>.yaml, "module:Schema") of the config its overrides build
CONFIGS: dict[str, tuple[str, str]] = {}


def command(name: str, config: tuple[str, str] | None = None):
    """Register a CLI command `name` (the function gets the remaining arguments); `config`
    names the YAML file and schema whose keys `earlyexp <name> --help` lists."""
    def decorate(fn):
        COMMANDS[name] = fn
        if config:
            CONFIGS[name] = config
        return fn
    return decorate


@command("help")
def help_command(args: list[str]) -> int:
    """`earlyexp help [command]`: the commands, or one command's config keys."""
    if args and args[0] in COMMANDS:
        return command_help(args[0])
    console.print("usage: earlyexp <command> [key=value ...]\n\ncommands:")
    for name, fn in sorted(COMMANDS.items()):
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        console.print(f"  [bold]{name:<10}[/bold] {summary}")
    return 0


def command_help(name: str) -> int:
    """`earlyexp <name> --help`: what the command does and every key it accepts."""
    import inspect

    from rich.table import Table

    doc = inspect.cleandoc(COMMANDS[name].__doc__ or "")
    console.print(f"usage: earlyexp {name} [key=value ...]\n\n{doc}", highlight=False,
                  markup=False)
    if name not in CONFIGS:
        return 0
    from earlyexp.training.config import describe_config

    config_name, schema = CONFIGS[name]
    table = Table(title=f"keys (configs/{config_name}.yaml)", title_justify="left")
    for column in ("key", "type", "default", "help"):
        table.add_column(column, overflow="fold")
    for row in describe_config(config_name, schema):
        table.add_row(*row)
    console.print(table)
    return 0


@command("envs")
def envs_command(args: list[str]) -> int:
    """List registered environments with their splits and sizes."""
    from earlyexp.training.commands import list_environments
    return list_environments(console, args)


@command("collect", config=("collect", "earlyexp.experience.collect:CollectConfig"))
def collect_command(args: list[str]) -> int:
    """Collect expert trajectories and K branched alternatives per state."""
    from earlyexp.training.commands import run_collect
    return run_collect(console, args)


@command("warmstart", config=("warmstart", "earlyexp.training.warmstart:WarmstartConfig"))
def warmstart_command(args: list[str]) -> int:
    """Train an IL, IWM or SR warm-start checkpoint from collected experience."""
    from earlyexp.training.commands import run_warmstart
    return run_warmstart(console, args)


@command("evaluate",
         config=("evaluate", "earlyexp.training.evaluate:EvaluateCommandConfig"))
def evaluate_command(args: list[str]) -> int:
    """Evaluate a checkpoint (or the expert / random bounds) on a split."""
    from earlyexp.training.commands import run_evaluate
    return run_evaluate(console, args)


@command("rl", config=("rl", "earlyexp.training.rl.config:RLConfig"))
def rl_command(args: list[str]) -> int:
    """Reinforcement learning (GRPO or PPO) from a warm-start checkpoint: init=<dir>."""
    from earlyexp.training.rl.cli import run_rl
    return run_rl(console, args)


@command("pipeline", config=("pipeline", "earlyexp.training.pipeline:PipelineConfig"))
def pipeline_command(args: list[str]) -> int:
    """Collect, warm-start IL/IWM/SR, RL from each, evaluate before/after, report."""
    from earlyexp.training.commands import run_pipeline
    return run_pipeline(console, args)


@command("compare", config=("compare", "earlyexp.training.compare:CompareConfig"))
def compare_command(args: list[str]) -> int:
    """Families x seeds x methods: each (family, seed) cell a resumable pipeline, then
    comparison.md / comparison.html with paired differences against IL.

    Pipeline keys apply to every cell; compare.families / compare.seeds choose the cells,
    compare.executor=local|ray runs them (ray.address, ray.num_cpus, ray.num_gpus per
    cell). Re-running skips finished cells; a failed cell is recorded and the rest go on."""
    from earlyexp.training.commands import run_compare
    return run_compare(console, args)


@command("demo", config=("pipeline", "earlyexp.training.pipeline:PipelineConfig"))
def demo_command(args: list[str]) -> int:
    """The pipeline on TextWorld with the tiny model, sized for a 2-core CPU (make demo)."""
    from earlyexp.training.commands import run_pipeline
    return run_pipeline(console, ["experiment=demo", *args])


@command("serve", config=("serve", "earlyexp.training.commands:ServeConfig"))
def serve_command(args: list[str]) -> int:
    """Serve an environment as a web site: `earlyexp serve webshop [host=..] [port=..]
    [env.kwargs.<name>=..]` (the environment's arguments go under env.kwargs)."""
    from earlyexp.training.commands import run_serve
    return run_serve(console, args)


@command("report")
def report_command(args: list[str]) -> int:
    """Write report.md / report.html for one or more run dirs (several = a comparison).

    usage: earlyexp report RUN_DIR [RUN_DIR ...] [out_dir=DIR]
    out_dir: where the report goes (default: the run dir for one run, else `report/` in
    the runs' common parent)."""
    from earlyexp.training.report import report_main
    return report_main(console, args)


def run_command(name: str, argv: list[str]) -> int:
    """Run command `name`; with -m / --multirun (Hydra's flag), once per sweep point of
    its overrides (`key=a,b`, `range(0,3)`, `glob(*)`), through Hydra's configured sweeper
    and launcher (training/multirun.py)."""
    if name not in CONFIGS:  # not Hydra-configured: its arguments are its own
        return COMMANDS[name](argv)
    from earlyexp.training.multirun import MULTIRUN_FLAGS, refuse_unswept, run_multirun

    if any(arg in MULTIRUN_FLAGS for arg in argv):
        rest = [arg for arg in argv if arg not in MULTIRUN_FLAGS]
        return run_multirun(console, name, CONFIGS[name][0], rest)
    refuse_unswept(argv)
    return COMMANDS[name](argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from earlyexp import threads
    from earlyexp.experience.workers import interrupt_on_sigterm
    interrupt_on_sigterm()  # SIGTERM stops workers and JVMs as Ctrl-C does
    threads.claim()  # this run's share of the machine, explicit pools: earlyexp/threads.py
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Library deprecation notices (transformers, TRL) are for us, not for the user.
    warnings.filterwarnings("ignore", category=FutureWarning)
    name = argv.pop(0) if argv else "help"
    if name in ("-h", "--help"):
        name = "help"
    if name not in COMMANDS:
        from earlyexp.errors import closest
        console.print(f"[red]Unknown command {name!r}.{closest(name, COMMANDS)}[/red]")
        help_command([])
        return 2
    if any(arg in ("-h", "--help") for arg in argv):
        return command_help(name)
    try:
        return run_command(name, argv)
    except EarlyExpError as e:
        from rich.markup import escape
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; finished shards are kept, re-run to resume[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
