"""searchqa: generated corpus and questions, BM25 search, expert, reward, snapshots, user data."""
from __future__ import annotations

import json
import random
import string

import gymnasium
import pytest

from earlyexp import envs
from earlyexp.envs.searchqa import data
from earlyexp.envs.searchqa.actions import Action, parse_action
from earlyexp.envs.searchqa.env import SearchQAEnv
from earlyexp.envs.searchqa.metrics import best_exact_match, best_f1, f1, normalize_answer
from earlyexp.errors import ConfigError, UnknownSplitError, UnknownTaskError


SMOKE = envs.spec("searchqa").smoke_kwargs


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache root for this module, so generation and caching are really exercised."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("earlyexp-cache")
        patch.setenv("EARLYEXP_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def full_env(cache):
    return envs.make("searchqa")  # the registered default: 20,000 passages


@pytest.fixture(scope="module")
def small_env(cache):
    return envs.make("searchqa", **SMOKE)


def run_expert(env, task_id, seed=0):
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    observations, actions, rewards = [obs], [], []
    while True:
        action = info["expert_action"]
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        assert info["valid_action"], obs
        if terminated or truncated:
            return observations, actions, rewards, info


# ---------------------------------------------------------------- data
def test_corpus_and_split_sizes(full_env):
    assert len(full_env.bundle.passages) >= 20_000
    assert {s: len(full_env.tasks(s)) for s in full_env.splits} == {
        "train": 2000, "test": 500, "ood": 500}
    hops = {s: {len(q.hops) for q in full_env.bundle.questions[s]} for s in full_env.splits}
    assert hops == {"train": {1, 2}, "test": {1, 2}, "ood": {3}}
    kinds = {q.kind.split()[-1] for q in full_env.bundle.questions["train"]}
    assert kinds == {"bridge", "comparison"}
    assert full_env.tasks("train") == full_env.tasks("train")[:]  # fixed order, a fresh list
    assert full_env.tasks("train")[:2] == ["train-00000", "train-00001"]


def test_test_and_ood_entities_are_unseen_in_train(full_env):
    def entities(split):
        return {h.passage_id for q in full_env.bundle.questions[split] for h in q.hops}
    train = entities("train")
    assert not train & entities("test")
    assert not train & entities("ood")
    train_questions = {q.question for q in full_env.bundle.questions["train"]}
    assert not train_questions & {q.question for q in full_env.bundle.questions["test"]}


def test_every_answer_is_stated_by_a_passage_the_expert_reads(full_env):
    for split in full_env.splits:
        for question in full_env.bundle.questions[split]:
            evidence = " ".join(normalize_answer(full_env.bundle.by_passage[h.passage_id].text)
                                for h in question.hops)
            assert normalize_answer(question.answers[0]) in evidence, question
            if question.kind.endswith("bridge"):  # the answer is never given away
                answer = normalize_answer(question.answers[0])
                assert answer not in normalize_answer(question.question)


def test_expert_searches_retrieve_their_passages(full_env):
    hops = [h for s in full_env.splits for q in full_env.bundle.questions[s] for h in q.hops]
    bundle = full_env.bundle
    found = sum(h.passage_id in {bundle.passages[i].id for i in bundle.index.search(h.query, 3)}
                for h in hops)
    assert found / len(hops) > 0.99


@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_expert_solves_a_sample(full_env, split):
    for task_id in random.Random(split).sample(full_env.tasks(split), 60):
        _, actions, rewards, info = run_expert(full_env, task_id)
        question = full_env.bundle.by_task[task_id]
        assert info["success"] and info["score"] == 1.0 and rewards[-1] == 1.0
        assert 1 <= info["searches_used"] <= len(question.hops)  # at most one search per hop
        assert actions[-1] == f"<answer> {question.answers[0]} </answer>"


def _is_span(needle: list[int], haystack: list[int]) -> bool:
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def test_expert_writes_names_as_the_token_span_the_agent_reads(small_env):
    """A small model learns to search by copying: every name the expert searches for and
    every answer it gives must be the same byte-level BPE ids in its action as in the
    question or passages it read (a name glued to ">" or '"', or a year glued to "(",
    would be another id sequence, and copying it a learnt re-spelling)."""
    from earlyexp.agents.tiny_model import train_tokenizer

    texts = [q.question for q in small_env.bundle.questions["train"]]
    texts += [f"{p.title}. {p.text}" for p in small_env.bundle.passages]
    tokenizer = train_tokenizer(texts, 600)
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    checked = 0
    for task_id in small_env.tasks("test") + small_env.tasks("ood"):
        question = small_env.bundle.by_task[task_id]
        observations, actions, _, _ = run_expert(small_env, task_id)
        seen = ids(question.question + "\n" + "\n".join(observations))
        titles = {h.query: small_env.bundle.by_passage[h.passage_id].title for h in question.hops}
        for action in actions[:-1]:  # the searches
            title = titles[parse_action(action).text]
            name = f' "{title}' if '"' in action else f" {title}"  # a work keeps its quotes
            assert _is_span(ids(name), ids(action)) and _is_span(ids(name), seen), action
            checked += 1
        answer = ids(f" {question.answers[0]}")
        assert _is_span(answer, ids(actions[-1])) and _is_span(answer, seen), actions[-1]
    assert checked >= 20


def test_expert_recovers_after_a_detour(small_env):
    for task_id in small_env.tasks("ood")[:5]:
        _obs, info = small_env.reset(seed=0, options={"task_id": task_id})
        detour = next(a for a in info["admissible_actions"]
                      if a.startswith("<search>") and a != info["expert_action"])
        small_env.step(detour)
        *_, info = small_env.step("<think>hmm</think> not an action")
        assert not info["valid_action"]
        while info["expert_action"] is not None:
            *_, info = small_env.step(info["expert_action"])
        assert info["success"], task_id


def test_generation_is_deterministic_and_cached(tmp_path, monkeypatch):
    params = data.GenerationParams(300, 10, 5, 5, seed=3)
    texts = []
    for name in ("a", "b"):
        monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path / name))
        bundle = data.generated_bundle(params)
        assert (bundle.directory / data.MANIFEST).is_file()
        texts.append([(bundle.directory / f).read_bytes() for f in ("corpus.jsonl", "qa.jsonl")])
    assert texts[0] == texts[1]
    other = data.GenerationParams(300, 10, 5, 5, seed=4)
    assert other.key() != params.key()
    assert data.generated_bundle(other).passages != bundle.passages


def test_cache_never_trusts_an_unfinished_build(tmp_path):
    target = tmp_path / "key"

    def crash(staging):
        (staging / "half.jsonl").write_text("{")
        raise KeyboardInterrupt  # a run killed mid-build

    with pytest.raises(KeyboardInterrupt):
        data.ensure_cached(target, crash)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.mkdir()  # a directory without a manifest, as an old or foreign layout would leave
    (target / "stale").write_text("x")
    def build(staging):
        (staging / "ok").write_text("1")
        return {"files": 1}

    data.ensure_cached(target, build)
    assert sorted(p.name for p in target.iterdir()) == [data.MANIFEST, "ok"]
    data.ensure_cached(target, crash)  # finished: never rebuilt


# ---------------------------------------------------------------- episodes
def test_episode_is_deterministic_given_task_and_seed(small_env):
    task_id = small_env.tasks("train")[3]
    first = run_expert(small_env, task_id, seed=5)
    fresh = envs.make("searchqa", **SMOKE)
    assert run_expert(fresh, task_id, seed=5)[:3] == first[:3]
    obs_a, _ = small_env.reset(seed=1)
    obs_b, _ = fresh.reset(seed=1)
    assert obs_a == obs_b  # the seed also picks the same task


def test_observations_follow_the_search_r1_format(small_env):
    observations, _actions, _, _ = run_expert(small_env, small_env.tasks("ood")[0])
    assert "Question: " in observations[0] and "at most 4 times" in observations[0]
    assert observations[0].endswith(small_env.bundle.by_task[small_env.tasks("ood")[0]].question)
    for obs in observations[1:-1]:
        assert obs.startswith("<information>\nDoc 1 (Title: ") and "</information>" in obs
        assert obs.count("\nDoc ") == 3  # top_k = 3
    assert observations[-1].endswith("Exact match: yes; F1: 1.00.")


def test_native_snapshot_matches_replay_and_runs_no_search(small_env, monkeypatch):
    task_id = small_env.tasks("ood")[1]
    obs, info = small_env.reset(seed=2, options={"task_id": task_id})
    for _ in range(2):
        obs, _, _, _, info = small_env.step(info["expert_action"])
    native, replay = small_env.snapshot(), small_env.snapshot(mode="replay")
    assert native.native is not None and replay.native is None
    expected = (obs, info)
    for branch in info["admissible_actions"][:4] + ["<search>anything else</search>"]:
        small_env.step(branch)
        assert small_env.restore(native) == expected
        small_env.step(branch)
        assert small_env.restore(replay) == expected
    assert small_env.step(info["expert_action"])[4]["searches_used"] == 3

    # Why native is faster, counted rather than timed (a timed assert fails on a loaded
    # machine): restoring it runs no search, a replay re-runs every search of the prefix.
    index, searches = small_env.bundle.index, []
    search = index.search
    monkeypatch.setattr(index, "search", lambda *a, **k: searches.append(a) or search(*a, **k))
    small_env.restore(native)
    assert searches == []
    small_env.restore(replay)
    assert len(searches) == 2


# ---------------------------------------------------------------- reward and rules
@pytest.mark.parametrize("prediction, gold, expected", [
    ("Kael Dunmore", "Kael Dunmore", 1.0),
    ("the  kael dunmore!", "Kael Dunmore", 1.0),   # case, article, punctuation, spaces
    ("Kael", "Kael Dunmore", 2 * (1 * 0.5) / 1.5),  # P=1, R=1/2
    ("Dunmore Kael Vell", "Kael Dunmore", 0.8),     # P=2/3, R=1
    ("1843", "1834", 0.0),
    ("The", "a", 1.0),                              # both normalise to nothing
    ("Vell", "the", 0.0),
])
def test_f1_against_hand_computed_values(prediction, gold, expected):
    assert f1(prediction, gold) == pytest.approx(expected)


def test_best_over_gold_answers():
    assert best_f1("Tarsk", ["Velmoria", "Tarsk city"]) == pytest.approx(2 / 3)
    assert best_exact_match("THE Tarsk.", ["Velmoria", "Tarsk"])
    assert not best_exact_match("Tarsk city", ["Tarsk"])


def test_reward_is_f1_and_success_is_exact_match(small_env):
    task_id = next(t for t in small_env.tasks("train")
                   if len(small_env.bundle.by_task[t].answers[0].split()) == 2)
    gold = small_env.bundle.by_task[task_id].answers[0]
    small_env.reset(seed=0, options={"task_id": task_id})
    obs, reward, terminated, truncated, info = small_env.step(f"<answer>{gold.split()[0]}</answer>")
    assert terminated and not truncated and info["valid_action"]
    assert reward == pytest.approx(2 / 3) == info["score"] and not info["success"]
    assert info["expert_action"] is None and info["admissible_actions"] == []
    assert "Exact match: no; F1: 0.67." in obs


@pytest.mark.parametrize("raw, expected", [
    ("<search>Kael Dunmore</search>", Action("search", "Kael Dunmore")),
    ("  <answer> 1843 </answer>\n", Action("answer", "1843")),
    ("<think>need the founder</think><search>Orvane\n Institute</search>",
     Action("search", "Orvane Institute")),
    ("<search>a</search><search>b</search>", "one action per step"),
    ("I will search. <search>x</search>", "text outside the block"),
    ("<search></search>", "is empty"),
    ("<answer><search>x</search></answer>", "cannot be nested"),
    ("<answer>a <think> b</answer>", "cannot be nested"),
    ("<search>unclosed", "not closed"),
    ("search[Kael]", "no <search> or <answer> block"),
])
def test_action_parsing(raw, expected):
    parsed = parse_action(raw)
    if isinstance(expected, Action):
        assert parsed == expected
    else:
        assert isinstance(parsed, str) and expected in parsed


def test_declared_search_query_and_template(small_env):
    """The tracker's declarations: what a search asks, and an action's shape."""
    assert small_env.search_query("<think>x</think> <search> Ada   Lovelace </search>") == \
        "Ada Lovelace"
    for not_a_search in ("<answer>Ada</answer>", "search[Ada]", "<search></search>",
                         "<search>a</search><search>b</search>", ""):
        assert small_env.search_query(not_a_search) is None
    cases = {
        "<search>Khailthias Bylmiand born</search>": "<search>_ born</search>",
        "<search>In which city was Khailthias Bylmiand born?</search>":
            "<search>In which city was _ born?</search>",
        '<search>In what year was the symphony "The Last Candle" composed?</search>':
            '<search>In what year was the symphony "_" composed?</search>',
        "<search>born in 1887</search>": "<search>born in #</search>",
        "<think>two hops</think><answer>Paris</answer>": "<think>_</think><answer>_</answer>",
        "no block at all (3 words)": "no block at all (_)",   # malformed: the core default
    }
    assert {a: small_env.action_template(a) for a in cases} == cases
    # every question's own expert search masks to a template without its names
    obs, info = small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    query = small_env.search_query(info["expert_action"])
    assert query and small_env.action_template(info["expert_action"]).count("_") >= 1


def test_search_budget_and_truncation():
    env = envs.make("searchqa", **SMOKE, max_searches=2, max_steps=4)
    obs, info = env.reset(seed=0, options={"task_id": env.tasks("ood")[0]})
    for left in (1, 0):
        obs, *_, info = env.step("<search>founded</search>")
        assert obs.endswith(f"Searches left: {left}.") and info["searches_left"] == left
    assert not any(a.startswith("<search>") for a in info["admissible_actions"])
    assert info["expert_action"].startswith("<answer>")  # budget spent: the expert answers
    obs, reward, terminated, truncated, info = env.step("<search>more</search>")
    assert not info["valid_action"] and "budget is spent" in obs and not terminated
    obs, reward, terminated, truncated, info = env.step("<search>more</search>")
    assert truncated and not terminated and reward == 0.0


def test_search_without_a_known_word_returns_no_passage(small_env):
    small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    obs, _, _, _, info = small_env.step("<search>zzqxv the of</search>")
    assert info["valid_action"] and "No passage matches the query." in obs
    assert info["searches_used"] == 1


def test_huge_actions_keep_observations_small(small_env):
    small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    obs, *_ = small_env.step("<search>" + "Kael " * 200_000 + "</search>")
    assert len(obs) < 10_000
    obs, _, terminated, _, info = small_env.step("<answer>" + "x" * 2_000_000 + "</answer>")
    assert terminated and len(obs) < 10_000 and info["score"] == 0.0


def test_tag_shaped_fuzz_never_raises(small_env):
    rng = random.Random(7)
    pieces = ["<search>", "</search>", "<answer>", "</answer>", "<think>", "</think>",
              "<information>", "\n", " ", "Kael", "1843", "\x00", "🙂", '"', "</"]
    small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    for _ in range(500):
        length = rng.randint(1, 12)
        action = "".join(rng.choice(pieces + list(string.printable)) for _ in range(length))
        obs, _, terminated, truncated, _info = small_env.step(action)
        assert isinstance(obs, str) and len(obs) < 1 << 20
        if terminated or truncated:
            small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    assert run_expert(small_env, small_env.tasks("train")[0])[3]["success"]


def test_documented_info_keys_appear(small_env):
    _, info = small_env.reset(seed=0, options={"task_id": small_env.tasks("test")[0]})
    assert set(envs.INFO_KEYS) <= set(info)
    for key in ("searches_used", "searches_left", "hops", "question_kind"):
        assert key in info and f"`{key}`" in SearchQAEnv.__doc__
    assert info["expert_action"] in info["admissible_actions"]


def test_api_misuse_raises_clearly(small_env):
    with pytest.raises(UnknownTaskError, match="no task 'train-0'"):
        small_env.reset(options={"task_id": "train-0"})
    with pytest.raises(UnknownSplitError):
        small_env.tasks("dev")
    bad = [({"top_k": 0}, "top_k"), ({"num_passages": 50}, "num_passages"),
           ({"qa_path": "x.jsonl"}, "corpus_path"), ({"max_searches": True}, "max_searches"),
           ({"num_passages": 200, "num_train": 5_000}, "num_passages"),  # too few entities
           ({"top_k": 2_000}, "top_k")]  # results could pass the 1 MiB observation limit
    for kwargs, key in bad:
        with pytest.raises(ConfigError) as error:
            envs.make("searchqa", **{**SMOKE, **kwargs})
        assert error.value.key == key


def test_gymnasium_make(cache):
    env = gymnasium.make("earlyexp/SearchQA-v0", **SMOKE, disable_env_checker=True)
    obs, info = env.reset(seed=0)
    assert info["task_id"].startswith("train-") and "Question:" in obs


# ---------------------------------------------------------------- user data
def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path / "cache"))
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"id": "d1", "title": "Lake Orm", "text": "Lake Orm lies in the Brell valley."},
        {"id": "d2", "title": "Brell valley", "text": "The Brell valley belongs to Quenland."},
        {"id": "d3", "title": "Quenland", "text": "Quenland is a kingdom ruled from Astor."},
    ])
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "Which kingdom is Lake Orm in?", "answers": ["Quenland"],
         "queries": ["Lake Orm", "Brell valley"]},
        {"question": "Where is Quenland ruled from?", "answers": ["Astor", "the city of Astor"],
         "split": "test", "id": "q-astor"},
    ])
    return corpus, qa


def test_user_corpus_plugs_in(user_files, tmp_path):
    corpus, qa = user_files
    env = envs.make("searchqa", corpus_path=corpus, qa_path=qa)
    assert env.splits == ("train", "test")
    assert env.tasks("train") == ["train-00000"] and env.tasks("test") == ["q-astor"]
    _, actions, rewards, info = run_expert(env, "train-00000")
    # Spaced inside the tags as in Search-R1 (see expert.search_action).
    assert actions == ["<search> Lake Orm </search>", "<search> Brell valley </search>",
                       "<answer> Quenland </answer>"] and info["success"] and rewards[-1] == 1.0
    _, actions, _, info = run_expert(env, "q-astor")
    assert actions[0] == "<search> Where is Quenland ruled from? </search>" and info["success"]
    index_dirs = list((tmp_path / "cache" / "searchqa").glob("user-*"))
    assert len(index_dirs) == 1 and (index_dirs[0] / data.MANIFEST).is_file()


@pytest.mark.parametrize("corpus_rows, qa_rows, key, message", [
    ([{"id": "d1", "title": "T"}], None, "corpus_path", "field 'text'"),
    ([{"id": "d1", "title": "T", "text": "x"}] * 2, None, "corpus_path", "used twice"),
    (None, [{"question": "Q?", "answers": []}], "qa_path", "'answers' must be"),
    (None, [{"question": "Q?", "answers": ["a"], "split": "dev"}], "qa_path", "split 'dev'"),
    (None, ["not an object"], "qa_path", "line 1 is a JSON str"),
])
def test_bad_user_files_are_reported_with_their_line(user_files, tmp_path, corpus_rows, qa_rows,
                                                     key, message):
    corpus, qa = user_files
    if corpus_rows is not None:
        corpus = write_jsonl(tmp_path / "bad_corpus.jsonl", corpus_rows)
    if qa_rows is not None:
        qa = write_jsonl(tmp_path / "bad_qa.jsonl", qa_rows)
    with pytest.raises(ConfigError, match=message) as error:
        envs.make("searchqa", corpus_path=corpus, qa_path=qa)
    assert error.value.key == key


def test_missing_or_non_json_user_file(user_files, tmp_path):
    _corpus, qa = user_files
    with pytest.raises(ConfigError, match="cannot read"):
        envs.make("searchqa", corpus_path=str(tmp_path / "nope.jsonl"), qa_path=qa)
    (tmp_path / "broken.jsonl").write_text('{"id": "d1",\n')
    with pytest.raises(ConfigError, match="line 1 is not JSON"):
        envs.make("searchqa", corpus_path=str(tmp_path / "broken.jsonl"), qa_path=qa)
