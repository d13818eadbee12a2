"""Hydra's multirun on every command: `earlyexp <command> -m key=a,b ...` runs one job per
sweep point (parsed by Hydra's OverridesParser), a sweep without -m is a clear error."""
from __future__ import annotations

import json

import pytest

from earlyexp.errors import ConfigError
from earlyexp.training.cli import main
from earlyexp.training.commands import sweep_points

HOUSEHOLD = ["env=household", "env.kwargs.num_train=5", "env.kwargs.num_test=3",
             "env.kwargs.num_ood=2", "eval.num_tasks=2"]


def test_sweep_points_are_the_cartesian_product_in_order():
    assert sweep_points("pipeline", ["env=household,bfcl", "seed=range(0,2)", "k=3"]) == [
        ["env=household", "seed=0", "k=3"], ["env=household", "seed=1", "k=3"],
        ["env=bfcl", "seed=0", "k=3"], ["env=bfcl", "seed=1", "k=3"]]
    assert sweep_points("warmstart", ["method=glob(iwm*)"]) == [["method=iwm"],
                                                                 ["method=iwm_sr"]]
    assert sweep_points("serve", ["webshop", "port=1,2"]) == [["webshop", "port=1"],
                                                              ["webshop", "port=2"]]
    with pytest.raises(ConfigError, match="launcher"):
        sweep_points("pipeline", ["hydra/launcher=joblib"])
    with pytest.raises(ConfigError, match="interval"):
        sweep_points("pipeline", ["train.learning_rate=interval(0,1)"])


def test_multirun_runs_each_point_and_a_sweep_without_m_is_refused(tmp_path, capsys):
    out = f"out={tmp_path}/${{agent}}.json"
    assert main(["evaluate", "-m", "agent=expert,random", *HOUSEHOLD, out]) == 0
    expert = json.loads((tmp_path / "expert.json").read_text())
    random = json.loads((tmp_path / "random.json").read_text())
    assert expert["config"]["agent"] == "expert" and expert["summary"]["success"] == 1.0
    assert random["config"]["agent"] == "random" and random["summary"]["episodes"] == 2
    assert "multirun: 2 jobs of earlyexp evaluate" in capsys.readouterr().out
    assert main(["evaluate", "agent=expert,random", *HOUSEHOLD]) == 2
    assert "add -m" in capsys.readouterr().out
    # a failing point is reported and the others still run
    assert main(["evaluate", "--multirun", "agent=expert,nobody", *HOUSEHOLD, out]) == 1
