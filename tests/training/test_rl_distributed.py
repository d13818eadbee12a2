"""Two CPU processes (gloo, through accelerate under torchrun) hold identical weights after
an RL update, having played different groups."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
import torch

WORKER = textwrap.dedent("""
    import sys
    import torch
    import earlyexp.envs as envs
    from earlyexp.experience.collect import EnvConfig
    from earlyexp.training.rl import RLConfig, train_rl

    torch.set_num_threads(1)
    envs.register("doors", "earlyexp.envs.testing:DoorsEnv", override=True)
    init, out = sys.argv[1], sys.argv[2]
    cfg = RLConfig(env=EnvConfig("doors", {"treasure": "green"}), init=init, iterations=2,
                   tasks_per_iteration=4, group_size=3, learning_rate=1e-2, minibatch_size=4,
                   ppo_epochs=2, out_dir=out + "/run", device="cpu", num_envs=8,
                   entropy_coef=0.01)
    result = train_rl(cfg)
    from accelerate import PartialState
    state = PartialState()
    weights = torch.cat([p.detach().flatten() for p in result.policy.model.parameters()])
    torch.save({"world": state.num_processes, "weights": weights,
                "groups": result.history[-1]["groups"]}, f"{out}/rank{state.process_index}.pt")
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_hold_identical_weights_after_an_update(tmp_path):
    from earlyexp.envs.testing import DoorsEnv
    from tests.training.test_rl_training import tiny_model_for

    init = tiny_model_for(DoorsEnv(), tmp_path / "init")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(_free_port()), str(script), str(init), str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert torch.equal(ranks[0]["weights"], ranks[1]["weights"])
    from transformers import AutoModelForCausalLM
    start = torch.cat([p.detach().flatten()
                       for p in AutoModelForCausalLM.from_pretrained(init).parameters()])
    assert not torch.equal(ranks[0]["weights"], start)
    assert ranks[0]["groups"] == ranks[1]["groups"] and len(ranks[0]["groups"]) == 4
