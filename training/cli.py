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


def command(name: str):
    """Register a CLI command `name` (the function gets the remaining arguments)."""
    def decorate(fn):
        COMMANDS[name] = fn
        return fn
    return decorate


@command("help")
def help_command(args: list[str]) -> int:
    console.print("usage: earlyexp <command> [key=value ...]\n\ncommands:")
    for name, fn in sorted(COMMANDS.items()):
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        console.print(f"  [bold]{name:<10}[/bold] {summary}")
    return 0


@command("envs")
def envs_command(args: list[str]) -> int:
    """List registered environments with their splits and sizes."""
    from earlyexp.training.commands import list_environments
    return list_environments(console, args)


@command("collect")
def collect_command(args: list[str]) -> int:
    """Collect expert trajectories and K branched alternatives per state."""
    from earlyexp.training.commands import run_collect
    return run_collect(console, args)


@command("warmstart")
def warmstart_command(args: list[str]) -> int:
    """Train an IL, IWM or SR warm-start checkpoint from collected experience."""
    from earlyexp.training.commands import run_warmstart
    return run_warmstart(console, args)


@command("evaluate")
def evaluate_command(args: list[str]) -> int:
    """Evaluate a checkpoint (or the expert / random bounds) on a split."""
    from earlyexp.training.commands import run_evaluate
    return run_evaluate(console, args)


@command("rl")
def rl_command(args: list[str]) -> int:
    """Reinforcement learning (GRPO or PPO) from a warm-start checkpoint: init=<dir>."""
    from earlyexp.training.rl.cli import run_rl
    return run_rl(console, args)


@command("pipeline")
def pipeline_command(args: list[str]) -> int:
    """Collect, warm-start IL/IWM/SR, RL from each, evaluate before/after, report."""
    from earlyexp.training.commands import run_pipeline
    return run_pipeline(console, args)


@command("demo")
def demo_command(args: list[str]) -> int:
    """The pipeline on TextWorld with the tiny model, sized for a 2-core CPU (make demo)."""
    from earlyexp.training.commands import run_pipeline
    return run_pipeline(console, ["experiment=demo", *args])


@command("serve")
def serve_command(args: list[str]) -> int:
    """Serve an environment as a web site: `earlyexp serve webshop [host=..] [port=..]`."""
    from earlyexp.training.commands import run_serve
    return run_serve(console, args)


@command("report")
def report_command(args: list[str]) -> int:
    """Write report.md / report.html for one or more run dirs (several = a comparison)."""
    from earlyexp.training.report import report_main
    return report_main(console, args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from earlyexp import threads
    from earlyexp.experience.workers import interrupt_on_sigterm
    interrupt_on_sigterm()  # SIGTERM stops workers and JVMs as Ctrl-C does
    threads.apply(threads.total_threads())  # explicit pools: see earlyexp/threads.py
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
    try:
        return COMMANDS[name](argv)
    except EarlyExpError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; finished shards are kept, re-run to resume[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
