"""Data-parallel training through `accelerate`: one process per device (or CPU process).

Every rank plays its share of the iteration's groups (a group never spans ranks, so
group advantages need no communication), computes its loss, and DDP averages the
gradients, so all ranks keep identical weights. Launch with

    torchrun --nproc_per_node 2 -m earlyexp.training.rl.cli init=<dir> ...     # CPU, gloo
    accelerate launch --multi_gpu --num_processes 4 -m earlyexp.training.rl.cli init=<dir> ...

FSDP or DeepSpeed are chosen through `accelerate config`: the trainer only calls
`prepare`, `backward` and `clip_grad_norm_` (untested here; rollouts generate with the
local module, so a sharded model needs `backend=vllm` for generation).
`accelerate launch --cpu --num_processes 2` starts ONE process unless MPI is set up
(accelerate's multi-CPU launcher is mpirun); under torchrun, `Accelerator(cpu=True)`
finds LOCAL_RANK / WORLD_SIZE and joins a gloo process group.
"""
from __future__ import annotations

import torch
import torch.distributed as tdist


class Distributed:
    """The few collective operations the RL loop needs, over an `accelerate.Accelerator`."""

    def __init__(self, device: str = "auto"):
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState

        cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        # RL updates in float32, as the rollouts score: otherwise the on-policy ratio is not
        # 1. A trainer that ran earlier in this process (the pipeline's bf16 warm-start)
        # leaves its mixed precision in accelerate's process-wide state, which a new
        # Accelerator would silently inherit (and refuse to change): reset it first. The
        # process group (accelerate's PartialState) is kept.
        AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(cpu=cpu, mixed_precision="no")
        self.rank = self.accelerator.process_index
        self.world_size = self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process
        self.device = self.accelerator.device

    def prepare(self, module, optimizer):
        return self.accelerator.prepare(module, optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def clip_grad_norm(self, parameters, max_norm: float) -> torch.Tensor:
        return self.accelerator.clip_grad_norm_(parameters, max_norm)

    def unwrap(self, module):
        return self.accelerator.unwrap_model(module)

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    def reduce(self, value: float, op: str = "sum") -> float:
        """`value` combined over ranks with sum, min or max (itself on one process)."""
        if self.world_size == 1:
            return value
        ops = {"sum": tdist.ReduceOp.SUM, "min": tdist.ReduceOp.MIN, "max": tdist.ReduceOp.MAX}
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=ops[op])
        return float(t.item())

    def gather_objects(self, items: list) -> list:
        """The concatenation, in rank order, of every rank's `items` (on every rank)."""
        if self.world_size == 1:
            return list(items)
        gathered: list = [None] * self.world_size
        tdist.all_gather_object(gathered, list(items))
        return [x for part in gathered for x in part]
