"""customer_service: τ-bench-style retail support over a generated SQLite shop."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
import yaml
from earlyexp.envs.customer_service import data as data_module
from earlyexp.envs.customer_service.calls import bind
from earlyexp.envs.customer_service.data import TaskSetSpec, load_task_set
from earlyexp.envs.customer_service.database import copy_database, state_digest
from earlyexp.envs.customer_service.reward import Verdict, apply_gold, gold_state, outputs_found
from earlyexp.envs.customer_service.templates import TEMPLATES
from earlyexp.envs.customer_service.tools import TOOLS
from earlyexp.envs.toolcalls import ToolCallError, parse_call

from earlyexp import envs
from earlyexp.errors import ConfigError, UnknownSplitError, UnknownTaskError

SMALL = {"seed": 3, "num_users": 120, "num_train": 40, "num_test": 20, "num_ood": 20}


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """Generate into a scratch cache so the tests also exercise generation and writing."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EARLYEXP_CACHE", str(tmp_path_factory.mktemp("cache")))
    load_task_set.cache_clear()
    yield
    patch.undo()
    load_task_set.cache_clear()


@pytest.fixture(scope="module")
def env():
    environment = envs.make("customer_service", **SMALL)
    yield environment
    environment.close()


def run_expert(env, task_id, seed=0):
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    trace, reward = [(None, obs, info)], 0.0
    while info["expert_action"] is not None:
        action = info["expert_action"]
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((action, obs, info))
        if terminated or truncated:
            break
    return trace, reward


def first_task(env, split, kind):
    return next(t for t in env.tasks(split) if t.split("-", 2)[2] == kind)


def step_until(env, task_id, predicate):
    """Follow the expert from reset until `predicate(expert_action)` holds; return that info."""
    _, info = env.reset(seed=0, options={"task_id": task_id})
    while not predicate(info["expert_action"]):
        *_, info = env.step(info["expert_action"])
    return info


# --- the expert ---------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_expert_solves_every_task_of_a_sample(env, split):
    for task_id in env.tasks(split):
        trace, reward = run_expert(env, task_id)
        info = trace[-1][2]
        assert info["success"] and reward == 1.0, (task_id, [a for a, *_ in trace])
        assert info["policy_violations"] == [], task_id
        assert all(i["valid_action"] for _, _, i in trace), task_id
        assert all(
            a in prev["admissible_actions"]
            for (a, _, _), (_, _, prev) in zip(trace[1:], trace[:-1])
        ), "the expert action is always admissible"
        assert all(len(a) <= 512 for a, *_ in trace[1:]), "expert actions fit the action space"


def test_expert_recovers_after_a_detour(env):
    task_id = first_task(env, "train", "cancel")
    info = step_until(env, task_id, lambda a: a.startswith("get_order_details"))
    env.step("respond(message='What is the reason?')")  # already answered: harmless
    env.step("get_product_details(product_id='0000000000')")  # invalid lookup
    *_, info = env.step("list_all_product_types()")
    while info["expert_action"] is not None:
        *_, info = env.step(info["expert_action"])
    assert info["success"]


# --- determinism and data -------------------------------------------------------------
def test_same_task_and_seed_give_the_same_episode(env):
    task_id = env.tasks("test")[3]
    first, _ = run_expert(env, task_id, seed=5)
    second, _ = run_expert(env, task_id, seed=5)
    assert [(a, o, i) for a, o, i in first] == [(a, o, i) for a, o, i in second]


def test_generation_is_deterministic_and_cached_atomically(tmp_path, monkeypatch):
    spec = TaskSetSpec(seed=11, num_users=40, num_train=5, num_test=3, num_ood=3)
    assert json.dumps(data_module._generate(spec)) == json.dumps(data_module._generate(spec))
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    path = data_module.cache_dir(spec) / "task_set.json"
    assert path.parent.parent == tmp_path / "customer_service"
    load_task_set.cache_clear()
    world, tasks = load_task_set(spec)
    assert path.exists() and not list(path.parent.glob(".*.tmp"))
    path.write_text('{"version": 1, "world": ')  # a torn file is regenerated, not trusted
    load_task_set.cache_clear()
    assert load_task_set(spec) == (world, tasks)
    assert json.loads(path.read_text())["version"] == data_module.FORMAT_VERSION
    path.write_text('{"version": 0, "world": {}, "tasks": {}}')  # an older format is redone
    load_task_set.cache_clear()
    assert load_task_set(spec) == (world, tasks)


def test_splits_are_fixed_disjoint_and_hold_out_templates(env):
    _, splits = load_task_set(env.data_spec)
    sizes = {split: len(env.tasks(split)) for split in env.splits}
    assert sizes == {"train": 40, "test": 20, "ood": 20}
    users = {split: {t.user_id for t in tasks} for split, tasks in splits.items()}
    assert not users["train"] & users["test"] and not users["train"] & users["ood"]
    kinds = {split: {r.kind for t in tasks for r in t.requests} for split, tasks in splits.items()}
    assert kinds["ood"] == {"exchange", "modify_payment"}
    assert not kinds["train"] & kinds["ood"] and kinds["test"] <= kinds["train"]
    assert len(set(env.tasks("train"))) == 40


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigError, match="ood_templates"):
        TaskSetSpec(ood_templates=("teleport",))
    with pytest.raises(ConfigError, match="ood_templates"):
        TaskSetSpec(ood_templates=tuple(TEMPLATES))
    with pytest.raises(ConfigError, match="num_users"):
        TaskSetSpec(num_users=3)
    with pytest.raises(ConfigError, match="user"):
        envs.make("customer_service", user="llm", **SMALL)


def test_unknown_task_or_split_is_a_clear_error(env):
    with pytest.raises(UnknownTaskError, match="Did you mean"):
        env.reset(options={"task_id": env.tasks("train")[0] + "x"})
    with pytest.raises(UnknownSplitError, match="valid"):
        env.tasks("valid")


# --- snapshots ----------------------------------------------------------------------
def test_native_snapshot_restores_database_user_and_episode(env):
    task_id = first_task(env, "train", "cancel")
    info = step_until(env, task_id, lambda a: a.startswith("cancel_pending_order"))
    snap = env.snapshot()
    assert snap.native is not None
    before = (env._observation, info, state_digest(env._db))
    env.step(info["expert_action"])  # the write changes the database
    env.step("respond(message='Is there anything else I can help you with?')")
    assert env._done and state_digest(env._db) != before[2]
    for _ in range(2):  # a snapshot is reusable
        obs, restored = env.restore(snap)
        assert (obs, restored, state_digest(env._db)) == before
    env.reset(seed=0, options={"task_id": env.tasks("test")[0]})  # even after another task
    env.restore(snap)
    while restored["expert_action"] is not None:
        *_, restored = env.step(restored["expert_action"])
    assert restored["success"]


def test_native_snapshot_is_faster_than_replay(env):
    task_id = first_task(env, "train", "modify_items")
    step_until(env, task_id, lambda a: a.startswith("respond(message='Done"))

    def mean_restore_seconds(snap, repeats=20):
        start = time.perf_counter()
        for _ in range(repeats):
            env.restore(snap)
        return (time.perf_counter() - start) / repeats

    native, replay = env.snapshot(), env.snapshot(mode="replay")
    assert replay.native is None
    assert env.restore(native) == env.restore(replay)
    assert mean_restore_seconds(native) < mean_restore_seconds(replay)


# --- reward and checker against hand-computed cases -----------------------------------
def test_reward_formula_parts():
    assert outputs_found(["1234.5", "delivered"], ["It is Delivered and cost $1,234.50."]) == [
        True,
        True,
    ]
    assert outputs_found(["99.0"], ["It cost $99."]) == [False]
    assert outputs_found(["120.5"], ["It cost $120.50."]) == [True]
    assert Verdict(True, (True, False)).reward == 0.0
    assert Verdict(True, (True, False)).score == 0.75
    assert Verdict(False, ()).score == 0.5 and Verdict(True, ()).reward == 1.0


def tau_bench_outputs(outputs, messages):
    """τ-bench's `calculate_reward` output rule, written out: an output counts when one agent
    message, lower-cased and stripped of its commas, contains the lower-cased output."""
    return [any(o.lower() in m.lower().replace(",", "") for m in messages) for o in outputs]


def test_outputs_are_found_per_message_with_tau_benchs_comma_rule():
    # Each case is one the old rule (all messages joined, commas stripped from both) got wrong.
    split = (["gift card"], ["I refunded your gift", "card balance."])
    comma_in_output = (["1,234.50"], ["The total is $1,234.50."])
    for outputs, messages in (split, comma_in_output):
        assert outputs_found(outputs, messages) == [False]
        assert outputs_found(outputs, [" ".join(messages)]) == (
            [True] if outputs is split[0] else [False])
    assert outputs_found(["1234.5", "gift card"], ["It cost $1,234.50", "Your Gift Card, too"]) == [
        True, True]  # case and the message's commas do not matter
    rng = random.Random(0)
    words = ["Delivered", "gift", "card", "1,234.50", "1234.5", "$1,2", "34.50", ",", "ok", "GIFT"]
    for _ in range(500):
        messages = [" ".join(rng.choices(words, k=rng.randint(0, 4))) for _ in range(3)]
        outputs = [" ".join(rng.choices(words, k=rng.randint(1, 2))) for _ in range(2)]
        assert outputs_found(outputs, messages) == tau_bench_outputs(outputs, messages)


def test_a_failing_gold_call_is_recorded_and_the_replay_goes_on(env):
    task = env._tasks[first_task(env, "train", "cancel")]
    failing = {"name": "cancel_pending_order",
               "kwargs": {"order_id": "#W0000000", "reason": "no longer needed"}}
    with_failure = [failing, *task.gold_calls(), failing]
    errors = apply_gold(copy_database(env._base), with_failure)  # the old code raised here
    assert len(errors) == 2 and all(e.startswith("cancel_pending_order -> Error:") for e in errors)
    gold = gold_state(env._base, with_failure)
    assert gold.errors == tuple(errors)
    assert gold.digest == gold_state(env._base, task.gold_calls()).digest != state_digest(env._base)
    assert gold_state(env._base, task.gold_calls()).errors == ()


def test_wrong_write_fails_and_info_answer_needs_the_outputs(env):
    task_id = first_task(env, "train", "cancel")
    info = step_until(env, task_id, lambda a: a.startswith("cancel_pending_order"))
    wrong = (
        info["expert_action"].replace("'ordered by mistake'", "'no longer needed'")
        if "mistake" in info["expert_action"]
        else info["expert_action"].replace("'no longer needed'", "'ordered by mistake'")
    )
    *_, info = env.step(wrong)
    assert info["valid_action"] and info["score"] == 0.5  # database differs, no outputs needed
    _, reward, terminated, _, info = env.step("respond(message='Anything else?')")
    assert terminated and reward == 0.0 and not info["success"]

    task_id = first_task(env, "train", "info_lookup")
    info = step_until(env, task_id, lambda a: a.startswith("respond(message='Order"))
    status_only = info["expert_action"].split(" and its total")[0] + ". Anything else?')"
    _, reward, terminated, _, info = env.step(status_only)
    assert terminated and reward == 0.0 and info["score"] == 0.75  # 1 of 2 outputs said


def test_gift_card_payment_change_moves_balances_exactly(env):
    task_id = first_task(env, "ood", "modify_payment")
    task = env._tasks[task_id]
    write = next(c for c in task.gold_calls() if c["name"] == "modify_pending_order_payment")
    order_id, new_method = write["kwargs"]["order_id"], write["kwargs"]["payment_method_id"]
    db = copy_database(env._base)
    total = db.execute(
        "SELECT SUM(price) FROM order_items WHERE order_id = ?", (order_id,)
    ).fetchone()[0]
    old_method = db.execute(
        "SELECT payment_method_id FROM payments WHERE order_id = ?", (order_id,)
    ).fetchone()[0]
    balance = dict(db.execute("SELECT payment_method_id, balance FROM payment_methods"))
    TOOLS["modify_pending_order_payment"].run(db, **write["kwargs"])
    after = dict(db.execute("SELECT payment_method_id, balance FROM payment_methods"))
    history = db.execute(
        "SELECT kind, amount, payment_method_id FROM payments WHERE order_id = ? ORDER BY seq",
        (order_id,),
    ).fetchall()
    assert history == [
        ("payment", total, old_method),
        ("payment", total, new_method),
        ("refund", total, old_method),
    ]
    if new_method.startswith("gift_card"):
        assert after[new_method] == balance[new_method] - total
    if old_method.startswith("gift_card"):
        assert after[old_method] == balance[old_method] + total


def test_tools_refuse_what_the_data_forbids(env):
    db = copy_database(env._base)
    delivered = db.execute("SELECT order_id FROM orders WHERE status = 'delivered'").fetchone()[0]
    digest = state_digest(db)
    with pytest.raises(Exception, match="only an order that is 'pending' can be cancelled"):
        TOOLS["cancel_pending_order"].run(db, order_id=delivered, reason="no longer needed")
    with pytest.raises(Exception, match="same product"):
        item = db.execute(
            "SELECT item_id FROM order_items WHERE order_id = ?", (delivered,)
        ).fetchone()[0]
        other = db.execute(
            "SELECT item_id FROM variants WHERE product_id != (SELECT product_id "
            "FROM variants WHERE item_id = ?)",
            (item,),
        ).fetchone()[0]
        method = db.execute(
            "SELECT payment_method_id FROM payments WHERE order_id = ?", (delivered,)
        ).fetchone()[0]
        TOOLS["exchange_delivered_order_items"].run(
            db, order_id=delivered, item_ids=[item], new_item_ids=[other], payment_method_id=method
        )
    assert state_digest(db) == digest  # a refused call writes nothing


def test_policy_breaches_are_recorded_and_refusals_rewarded(env):
    refuse = next(
        t
        for t in env.tasks("train") + env.tasks("test")
        if "cancel an order my partner" in env._tasks[t].requests[0].opening
    )
    info = step_until(env, refuse, lambda a: a.startswith("respond(message=\"I'm sorry"))
    order_id = env._tasks[refuse].requests[0].subject
    *_, info = env.step(f"cancel_pending_order(order_id='{order_id}', reason='no longer needed')")
    assert info["valid_action"]  # the tool allows it; the policy does not
    assert any("another user" in v for v in info["policy_violations"])
    assert any("confirmation" in v for v in info["policy_violations"])
    _, reward, terminated, _, info = env.step(
        "transfer_to_human_agents(summary='customer wants another account changed')"
    )
    assert terminated and reward == 0.0

    step_until(env, refuse, lambda a: a.startswith("respond(message=\"I'm sorry"))
    _, reward, terminated, _, info = env.step("transfer_to_human_agents(summary='refused')")
    assert terminated and reward == 1.0 and info["success"]  # nothing written: state matches


# --- the user simulator ----------------------------------------------------------------
def test_scripted_user_reveals_slot_by_slot(env):
    task_id = next(t for t in env.tasks("train") if env._tasks[t].identity_mode == "name_zip")
    task = env._tasks[task_id]
    env.reset(seed=0, options={"task_id": task_id})
    obs, *_ = env.step("respond(message='Hello! How are you today?')")
    assert obs == f"User: Sorry, I'm not sure what you mean. {task.requests[0].opening}"
    obs, *_ = env.step("respond(message='May I have your email?')")
    who = task.identity
    assert "don't remember my email" in obs and who["zip"] in obs and who["email"] not in obs
    slot, answer = next(iter(task.requests[0].slots.items()))
    asked = {"order": "What is the order id?", "address": "What is the new address?"}[slot]
    obs, *_ = env.step(f"respond(message='{asked}')")
    assert obs == f"User: {answer}"


class EchoPolicy:
    """A stand-in `Policy` that stops as soon as the agent asks about anything else."""

    def __init__(self):
        self.prompts = []

    def generate(self, prompts, n=1, temperature=1.0, max_new_tokens=32):
        self.prompts.extend(prompts)
        stop = "anything else" in prompts[0].lower().rsplit("agent:", 1)[-1]
        return [[type("Generation", (), {"text": "###STOP###" if stop else "Yes.\nextra"})()]]


def test_llm_user_is_driven_by_a_policy():
    policy = EchoPolicy()
    env = envs.make("customer_service", user="llm", user_policy=policy, **SMALL)
    task_id = env.tasks("train")[0]
    _, info = env.reset(seed=0, options={"task_id": task_id})
    assert info["expert_action"] is None  # the scripted expert cannot read a model's mind
    obs, *_ = env.step("respond(message='Could you confirm your email?')")
    assert obs == "User: Yes." and env._tasks[task_id].identity["email"] in policy.prompts[0]
    _, _, terminated, _, _ = env.step("respond(message='Is there anything else?')")
    assert terminated
    env.close()


# --- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action, reason",
    [
        ("__import__('os').system('ls')", "bare name"),
        ("os.system('ls')", "bare name"),
        ("__import__('os')", "private"),
        ("respond(message=open('x').read())", "must be a literal"),
        ("respond(*['hi'])", "*arguments"),
        ("respond(message='a', message='b')", "'message' is given twice"),
        ("respond(message='a\\x00b')", "nul character"),
        ("respond(message='\\ud800')", "not valid unicode"),
        ("get_order_details('#W1', order_id='#W1')", "two values"),
        ("get_order_details(order='#W1')", "no parameter 'order'"),
        ("get_order_details(order_id=5)", "must be a string"),
        ("return_delivered_order_items('#W1', '123', 'paypal_1')", "list of strings"),
        ("cancel_pending_order('#W1')", "missing reason"),
        ("respond('a'); respond('b')", "exactly one call"),
        ("hello there", "not python call syntax"),
        ("refund(order_id='#W1')", "no tool 'refund'"),
    ],
)
def test_malformed_calls_are_invalid_observations(env, action, reason):
    env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    obs, reward, terminated, _, info = env.step(action)
    assert not info["valid_action"] and reward == 0.0 and not terminated
    assert reason.lower() in obs.lower(), obs


def test_parser_binds_positionals_and_never_evaluates():
    parsed = parse_call("modify_user_address('u', a2='x')")
    assert (parsed.name, parsed.args, parsed.kwargs) == ("modify_user_address", ("u",), {"a2": "x"})
    call = bind(parse_call("calculate('1+2')"), TOOLS["calculate"].params)
    assert call.source() == "calculate(expression='1+2')"
    assert TOOLS["calculate"].run(None, expression="(2 + 3) * 1.5 - 1/4") == "7.25"
    with pytest.raises(ToolCallError):
        parse_call("(" * 10_000)


def test_fuzzed_near_miss_calls_never_raise_and_leave_the_env_usable(env):
    rng = random.Random(0)
    names = [*TOOLS, "respond", "delete_user", "exec"]
    values = [
        "'#W0000000'",
        "['1', '2']",
        "5",
        "None",
        "'\\ud800'",
        "'x' * 3",
        "{'a': 1}",
        "'gift_card_0000000'",
        "''",
        "[1]",
        "lambda: 0",
        "'" + "y" * 600 + "'",
    ]
    task_id = env.tasks("train")[1]
    env.reset(seed=0, options={"task_id": task_id})
    for _ in range(1000):
        args = ", ".join(rng.choice(values) for _ in range(rng.randint(0, 4)))
        obs, _, terminated, truncated, _ = env.step(f"{rng.choice(names)}({args})")
        assert isinstance(obs, str) and len(obs) < 1 << 20
        if terminated or truncated:
            env.reset(seed=0, options={"task_id": task_id})
    _, reward = run_expert(env, task_id)
    assert reward == 1.0


# --- contract details and config --------------------------------------------------------
def test_documented_info_keys_appear(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    doc = type(env).__doc__
    assert set(envs.INFO_KEYS) <= set(info)
    for key in ("policy_violations", "request_index"):
        assert key in info and f"`{key}`" in doc


def test_config_file_builds_the_env():
    path = Path(__file__).parents[2] / "configs" / "env" / "customer_service.yaml"
    config = yaml.safe_load(path.read_text())
    assert config["name"] == "customer_service"
    spec = envs.spec(config["name"])
    assert set(config["kwargs"]) - {"user"} <= set(spec.kwargs)
    env = envs.make(config["name"], **{**config["kwargs"], **SMALL})
    assert env.tasks("ood")
    env.close()
