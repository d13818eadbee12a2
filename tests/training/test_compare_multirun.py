"""Hydra's multirun on every command: `earlyexp <command> -m key=a,b ...` runs one job per
sweep point through Hydra's sweeper and launcher (a launcher plugin such as joblib works
unchanged), every point is composed before any job runs, a failing point is reported while
the others run, and a sweep without -m is a clear error."""
from __future__ import annotations

import json
import os

import pytest

from earlyexp import threads
from earlyexp.errors import ConfigError
from earlyexp.training.cli import main
from earlyexp.training.multirun import JOB_FILE, jobs_at_once, sweep_points, with_hydra_defaults

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
    # Hydra's own keys configure the sweep; they are no part of a point
    assert sweep_points("pipeline", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                                     "seed=0,1"]) == [["seed=0"], ["seed=1"]]
    with pytest.raises(ConfigError, match="interval.*hydra-optuna-sweeper"):
        sweep_points("pipeline", ["train.learning_rate=interval(0,1)"])


def test_jobs_at_once_follows_joblib_n_jobs():
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    # joblib's rule: n_jobs > 0 as given; -1 every core, -2 all but one (cores + 1 + n_jobs)
    cases = {(3, 8): 3, (-1, 8): 8, (-2, 8): 7, (-1, 2): 2, (-4, 2): 1}
    assert {(n, cores): jobs_at_once({"_target_": joblib, "n_jobs": n}, cores)
            for n, cores in cases} == cases
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    assert jobs_at_once({"_target_": basic}, 8) is None  # one after another: full budget


def test_hydra_defaults_yield_to_the_users_keys():
    got = with_hydra_defaults("rl", ["hydra.sweep.dir=/x", "seed=1"])
    assert "hydra.sweep.dir=/x" in got and "seed=1" in got
    assert not any(o.startswith("hydra.sweep.dir=runs/") for o in got)
    assert "hydra/job_logging=none" in got
    assert with_hydra_defaults("rl", [])[0] == "hydra.sweep.dir=runs/multirun/rl/" \
                                                "${now:%Y-%m-%d_%H-%M-%S}"


def _jobs(sweep_dir) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob(f"*/{JOB_FILE}"),
                                                      key=lambda p: int(p.parent.name))]


def test_multirun_runs_each_point_and_a_sweep_without_m_is_refused(tmp_path, capsys):
    out, sweep = f"out={tmp_path}/${{agent}}.json", tmp_path / "sweep"
    args = ["evaluate", "-m", "agent=expert,random", *HOUSEHOLD, out, f"hydra.sweep.dir={sweep}"]
    assert main(args) == 0
    expert = json.loads((tmp_path / "expert.json").read_text())
    random = json.loads((tmp_path / "random.json").read_text())
    assert expert["config"]["agent"] == "expert" and expert["summary"]["success"] == 1.0
    assert random["config"]["agent"] == "random" and random["summary"]["episodes"] == 2
    assert "multirun: 2 jobs of earlyexp evaluate" in capsys.readouterr().out
    jobs = _jobs(sweep)  # Hydra's job directories, one per point, in sweep order
    assert [j["overrides"][0] for j in jobs] == ["agent=expert", "agent=random"]
    assert {j["pid"] for j in jobs} == {os.getpid()}  # the basic launcher: this process
    assert main(["evaluate", "agent=expert,random", *HOUSEHOLD]) == 2
    assert "add -m" in capsys.readouterr().out
    # a failing point is reported and the others still run
    (tmp_path / "expert.json").unlink()
    assert main(["evaluate", "--multirun", "agent=expert,nobody", *HOUSEHOLD, out,
                 f"hydra.sweep.dir={tmp_path}/sweep2"]) == 1
    assert (tmp_path / "expert.json").is_file()
    assert [j["exit_code"] for j in _jobs(tmp_path / "sweep2")] == [0, 2]


@pytest.mark.parametrize("bad, key", [
    (["agent=expert,random", "bogus=1"], "bogus"),            # unknown key
    (["agent=expert", "env=household,nosuch"], "env"),        # one point's unknown option
])
def test_a_bad_key_in_any_point_is_refused_before_any_job(tmp_path, capsys, bad, key):
    out = f"out={tmp_path}/${{agent}}.json"
    fixed = [o for o in HOUSEHOLD if not o.startswith("env=")]
    assert main(["evaluate", "-m", *bad, *fixed, out, f"hydra.sweep.dir={tmp_path}/s"]) == 2
    shown = capsys.readouterr().out
    assert f"Invalid config `{key}=" in shown
    assert not list(tmp_path.glob("*.json")) and not (tmp_path / "s").exists()


def test_a_missing_plugin_names_its_package(tmp_path, capsys):
    assert main(["evaluate", "-m", "hydra/sweeper=nevergrad", "agent=expert", *HOUSEHOLD,
                 f"hydra.sweep.dir={tmp_path}/s"]) == 2
    assert "pip install hydra-nevergrad-sweeper" in capsys.readouterr().out.replace("\n", " ")


def test_joblib_launcher_runs_the_jobs_in_its_processes_with_a_share_each(
        tmp_path, monkeypatch):
    """hydra-joblib-launcher runs two collections at once, each in a joblib worker that
    starts its own collection workers; a point with a bad value fails alone."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    monkeypatch.setenv(threads.ENV_VAR, "2")  # two jobs at once: one thread each
    sweep = tmp_path / "sweep"
    household = [o for o in HOUSEHOLD if not o.startswith("eval.")]
    assert main(["collect", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                 "seed=0,1", "k=1,-1", "num_workers=2", *household,
                 f"out_dir={tmp_path}/exp${{seed}}_${{k}}", f"hydra.sweep.dir={sweep}"]) == 1
    jobs = _jobs(sweep)
    assert [(j["overrides"][:2], j["exit_code"]) for j in jobs] == [
        (["seed=0", "k=1"], 0), (["seed=0", "k=-1"], 2), (["seed=1", "k=1"], 0),
        (["seed=1", "k=-1"], 2)]
    assert os.getpid() not in {j["pid"] for j in jobs}  # joblib's worker processes
    assert {j["threads"] for j in jobs} == {1}
    assert "JoblibLauncher" in (sweep / "multirun.yaml").read_text()
    for seed in (0, 1):  # every train task collected once, by workers that started fine
        manifest = json.loads((tmp_path / f"exp{seed}_1" / "manifest.json").read_text())
        assert manifest["meta"]["seed"] == seed
        tasks = [t for shard in manifest["shards"] for t in shard["tasks"]]
        assert sorted(tasks) == [f"train-000{i}@{seed}" for i in range(5)]
        assert sum(shard["transitions"] for shard in manifest["shards"]) >= 5 * 3
    assert not (tmp_path / "exp0_-1").exists()


LAUNCHERS = {  # launcher plugin -> (its module, overrides that keep it on this machine)
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", []),
    "ray": ("hydra_plugins.hydra_ray_launcher", ["+hydra.launcher.ray.init.num_cpus=2"]),
}


@pytest.mark.parametrize("launcher", ["submitit_local",
                                      pytest.param("ray", marks=pytest.mark.slow)])
def test_submitit_and_ray_launchers_run_each_job_in_its_own_process(tmp_path, launcher):
    """The SLURM launcher's local mode (submitit_local) and Hydra's Ray launcher (a local
    Ray runtime here; `hydra.launcher.ray.init.address` joins a cluster) run the points
    unchanged: each job in a process of the launcher's, each writing its own result."""
    module, extra = LAUNCHERS[launcher]
    pytest.importorskip(module)
    sweep = tmp_path / "sweep"
    try:
        assert main(["evaluate", "-m", f"hydra/launcher={launcher}", *extra,
                     "agent=expert,random", *HOUSEHOLD, f"out={tmp_path}/${{agent}}.json",
                     f"hydra.sweep.dir={sweep}"]) == 0
    finally:  # the Ray launcher leaves its runtime up in this process: later tests start theirs
        if launcher == "ray":
            import ray
            ray.shutdown()
    jobs = _jobs(sweep)
    assert [(j["overrides"][0], j["exit_code"]) for j in jobs] == [("agent=expert", 0),
                                                                   ("agent=random", 0)]
    assert os.getpid() not in {j["pid"] for j in jobs}
    assert len({j["pid"] for j in jobs}) == 2
    expert = json.loads((tmp_path / "expert.json").read_text())
    assert expert["config"]["agent"] == "expert" and expert["summary"]["success"] == 1.0
    assert json.loads((tmp_path / "random.json").read_text())["summary"]["episodes"] == 2


def test_optuna_optimises_the_number_named_by_objective(tmp_path, capsys):
    """hydra-optuna-sweeper gets `--objective success` from each job (the success rate its
    evaluation wrote): every trial's value is the one in that job's own output, and the
    sweeper's best is the largest of them."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    import yaml

    sweep = tmp_path / "sweep"
    assert main(["evaluate", "-m", "--objective", "success", "hydra/sweeper=optuna",
                 "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize",
                 "hydra.sweeper.sampler.seed=0", "agent=choice(expert,random)", *HOUSEHOLD,
                 f"out={tmp_path}/${{agent}}.json", f"hydra.sweep.dir={sweep}"]) == 0
    jobs = _jobs(sweep)
    assert len(jobs) == 4
    expected = {"agent=expert": 1.0, "agent=random": 0.0}  # on these household tasks
    for job in jobs:
        agent = next(o for o in job["overrides"] if o.startswith("agent="))
        assert job["objective"] == {"success": expected[agent]}
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(j["objective"]["success"] for j in jobs)
    assert expected[f"agent={best['best_params']['agent']}"] == best["best_value"]
    assert "success" in capsys.readouterr().out


def test_objective_is_refused_without_a_sweep_or_a_source(tmp_path, capsys):
    assert main(["evaluate", "--objective", "success", "agent=expert", *HOUSEHOLD]) == 2
    assert "add -m" in capsys.readouterr().out
    assert main(["collect", "-m", "--objective", "x", "seed=0,1", *HOUSEHOLD[:4]]) == 2
    assert "commands with objectives" in " ".join(capsys.readouterr().out.split())
    assert main(["evaluate", "-m", "--objective", "success", "agent=expert,random",
                 *HOUSEHOLD, f"hydra.sweep.dir={tmp_path}/none"]) == 2  # no `out`
    assert "set out=PATH" in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "none").exists()  # refused before any job
    # a name the job did not write: the job fails, naming what it did write
    assert main(["evaluate", "-m", "--objective", "sucess", "agent=expert", *HOUSEHOLD,
                 f"out={tmp_path}/e.json", f"hydra.sweep.dir={tmp_path}/s"]) == 1
    shown = " ".join(capsys.readouterr().out.split())
    assert "Did you mean" in shown and "success" in shown
    assert _jobs(tmp_path / "s")[0]["objective"] == {"sucess": None}


def test_pipeline_objectives_name_each_result_row(tmp_path):
    from earlyexp.training.multirun import read_objective

    rows = [{"warmstart": "il", "phase": "before_rl", "split": "test", "success": 0.25,
             "success_ci": [0.1, 0.4], "episodes": 40},
            {"warmstart": "il", "phase": "after_rl", "split": "test", "success": 0.5}]
    (tmp_path / "run.json").write_text(json.dumps({"results": rows}))
    point = [f"run_dir={tmp_path}"]
    assert read_objective("pipeline", point, "il/after_rl/test/success") == 0.5
    assert read_objective("pipeline", point, "il/before_rl/test/episodes") == 40.0
    with pytest.raises(ConfigError, match="Did you mean 'il/after_rl/test/success'"):
        read_objective("pipeline", point, "il/after_rl/tset/success")
