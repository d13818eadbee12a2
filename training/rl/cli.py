"""`earlyexp rl init=<dir> [rl=ppo] [key=value ...]`: RL from a warm-start checkpoint.

Overrides are Hydra overrides of `configs/rl.yaml`; `rl=grpo|ppo` picks the algorithm's
hyperparameters (`algo=ppo` is accepted as a synonym). Every warm-start is trained with
the same file, so IL / IWM / SR differ only in `init`.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def rl_overrides(args: list[str]) -> list[str]:
    """`algo=X` without `rl=X` selects the config group too (else only the name changes)."""
    args = list(args)
    algo = next((a.split("=", 1)[1] for a in args if a.startswith("algo=")), None)
    if algo and not any(a.startswith("rl=") for a in args):
        args.append(f"rl={algo}")
    return args


def run_rl(console: Console, args: list[str]) -> int:
    from earlyexp.training.config import load_config, to_dict
    from earlyexp.training.rl import RLConfig, train_rl
    from earlyexp.training.tracking import Tracker, make_run_name

    cfg = load_config("rl", rl_overrides(args), RLConfig)
    console.print(f"RL [bold]{cfg.algo}[/bold] on {cfg.env.name} from {cfg.init}: "
                  f"{cfg.iterations} iterations x {cfg.tasks_per_iteration} tasks x "
                  f"{cfg.group_size} rollouts, mode={cfg.mode}, backend={cfg.backend} "
                  f"-> {cfg.out_dir}")
    with Tracker(cfg.out_dir, make_run_name(cfg.env.name, cfg.algo, cfg.seed), to_dict(cfg),
                 console=console) as tracker:
        result = train_rl(cfg, tracker)
    table = Table(title=f"{cfg.algo} on {cfg.env.name} ({cfg.split})")
    for column in ("iteration", "success", "return", "entropy", "approx_kl", "clipfrac", "s"):
        table.add_column(column)
    for h in result.history:
        m = h["metrics"]
        table.add_row(str(h["iteration"]), f"{m['success']:.1%}", f"{m['return_mean']:.3f}",
                      f"{m['entropy']:.3f}", f"{m.get('losses/approx_kl', float('nan')):.4f}",
                      f"{m.get('losses/clipfrac', float('nan')):.3f}",
                      f"{m['time/iteration_s']:.1f}")
    console.print(table)
    console.print(f"checkpoint: {result.checkpoint}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m earlyexp.training.rl.cli key=value ...` (what `earlyexp rl` runs); for
    launchers such as torchrun that need a module to start."""
    import sys

    from earlyexp.errors import EarlyExpError

    console = Console()
    try:
        return run_rl(console, list(sys.argv[1:] if argv is None else argv))
    except EarlyExpError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
