"""Numeric precision for training, chosen for the device that runs it.

TRL's `SFTConfig` turns bf16 autocast on by default. That pays where the device
has bf16 arithmetic (CUDA GPUs from Ampere on; CPUs with AVX512-BF16 or AMX) and
costs several times over where it is emulated (an AVX2-only CPU converts every
operand). So `precision=auto` asks the device:

    CUDA with bf16 support       bf16
    CPU with avx512_bf16/amx_bf16 bf16
    anything else                fp32

`precision=bf16` on a device without it is refused before training starts (on
CUDA the kernels do not exist; on a CPU it would silently run emulated), and
`precision=fp32` is always allowed. `benchmarks/bench_warmstart_throughput.py`
measures every choice against the others on the machine it runs on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from earlyexp.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
#: /proc/cpuinfo flags of CPUs that execute bf16 dot products natively.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Precision:
    """The precision training runs in, and why (logged in warmstart.json)."""

    dtype: str      # "bf16" (autocast, fp32 master weights) or "fp32"
    requested: str  # the config value: auto | fp32 | bf16
    device: str     # "cuda" or "cpu"
    reason: str

    @property
    def bf16(self) -> bool:
        return self.dtype == "bf16"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: str) -> tuple[bool, str]:
    """Whether `device` ("cuda" or "cpu") computes in bf16 natively, and the evidence."""
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {name} supports bf16"
        return False, f"CUDA device {name} has no bf16 support"
    found = [flag for flag in CPU_BF16_FLAGS if flag in cpu_flags()]
    if found:
        return True, f"the CPU has {'/'.join(found)}"
    return False, f"the CPU has none of {'/'.join(CPU_BF16_FLAGS)} (bf16 would be emulated)"


def choose_precision(requested: str, device: str) -> Precision:
    """The precision for `train.precision=requested` on `device`; see the module docstring."""
    if requested not in PRECISIONS:
        raise ConfigError("train.precision", requested, f"must be one of {PRECISIONS}")
    if requested == "fp32":
        return Precision("fp32", requested, device, "requested")
    native, evidence = native_bf16(device)
    if requested == "bf16" and not native:
        raise ConfigError("train.precision", requested,
                          f"{evidence}; use train.precision=auto or fp32 on this machine")
    if requested == "bf16":
        return Precision("bf16", requested, device, f"requested; {evidence}")
    return Precision("bf16" if native else "fp32", requested, device, evidence)
