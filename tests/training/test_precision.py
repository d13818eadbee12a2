"""Precision and gradient checkpointing chosen for the hardware, set explicitly, logged."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch

from earlyexp.errors import ConfigError
from earlyexp.training import precision as precision_module
from earlyexp.training.precision import choose_precision, cpu_flags
from earlyexp.training.warmstart import TrainConfig, training_precision, warmstart

from .conftest import warmstart_config

CPUINFO = """processor\t: 0
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 {extra}
bugs\t\t: none
"""


def _lscpu_flags() -> set[str]:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("Flags:"))
    return set(line.split(":", 1)[1].split())


@pytest.mark.skipif(shutil.which("lscpu") is None, reason="needs lscpu")
def test_cpu_flags_match_lscpu():
    assert cpu_flags() == _lscpu_flags()


@pytest.mark.parametrize("extra, expected", [("", "fp32"), ("avx512f", "fp32"),
                                             ("avx512_bf16", "bf16"), ("amx_bf16", "bf16")])
def test_auto_picks_bf16_only_with_native_cpu_support(tmp_path, monkeypatch, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: cpu_flags(cpuinfo))
    chosen = choose_precision("auto", "cpu")
    assert chosen.dtype == expected and chosen.requested == "auto"
    assert ("avx512_bf16" in chosen.reason or "amx_bf16" in chosen.reason)
    assert choose_precision("fp32", "cpu").dtype == "fp32"
    if expected == "fp32":
        with pytest.raises(ConfigError, match=r"train.precision='bf16'.*emulated.*auto or fp32"):
            choose_precision("bf16", "cpu")
    else:
        assert choose_precision("bf16", "cpu").dtype == "bf16"


def test_unknown_precision_is_refused_naming_the_choices():
    with pytest.raises(ConfigError, match=r"train.precision='fp16'.*\('auto', 'fp32', 'bf16'\)"):
        TrainConfig(precision="fp16")


def _expected_on_this_machine() -> str:
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_flags() & {"avx512_bf16", "amx_bf16"} else "fp32"


def test_trainer_runs_with_the_choice_and_without_checkpointing(il_checkpoint):
    summary = json.loads((il_checkpoint / "warmstart.json").read_text())
    expected = _expected_on_this_machine()
    assert summary["compute"]["precision"]["dtype"] == expected
    assert summary["compute"]["gradient_checkpointing"] is False
    # TRL 1.16 defaults both to on; what the trainer and the model really ran with:
    for stage in summary["stages"]:
        assert stage["ran_with"]["bf16"] is (expected == "bf16")
        assert stage["ran_with"]["fp16"] is False
        assert stage["ran_with"]["gradient_checkpointing"] is False


def test_checkpointing_and_fp32_when_asked(corridor_env, corridor_experience, tmp_path):
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path, steps=2)
    cfg.train.precision, cfg.train.gradient_checkpointing = "fp32", True
    summary = json.loads((warmstart(cfg) / "warmstart.json").read_text())
    assert summary["compute"]["precision"]["dtype"] == "fp32"
    assert summary["stages"][0]["ran_with"]["gradient_checkpointing"] is True
    assert summary["stages"][0]["ran_with"]["bf16"] is False


def test_refused_precision_stops_before_any_work(corridor_env, corridor_experience, tmp_path,
                                                monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: (False, "no bf16 here"))
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path / "out", steps=2)
    cfg.train.precision = "bf16"
    with pytest.raises(ConfigError, match="no bf16 here"):
        training_precision(cfg)
    with pytest.raises(ConfigError, match="no bf16 here"):
        warmstart(cfg)
    assert not (tmp_path / "out").exists()
