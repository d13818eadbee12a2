"""WebShop family: catalog, splits, reward formula, expert, snapshots, bad input, web site."""
from __future__ import annotations

import http.client
import itertools
import random
import re
import shutil
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from earlyexp import envs
from earlyexp.envs.webshop import cache, catalog, reward, vocab
from earlyexp.envs.webshop.catalog import Product
from earlyexp.envs.webshop.reward import Goal, purchase_reward
from earlyexp.envs.webshop.server import running_server
from earlyexp.envs.webshop.shop import MAX_QUERY_CHARS
from earlyexp.errors import UnknownSplitError, UnknownTaskError

SMALL = envs.spec("webshop").smoke_kwargs


@pytest.fixture(scope="module", autouse=True)
def isolated_cache(tmp_path_factory):
    """Generate into a fresh cache so the test exercises generation, not someone's old files."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EARLYEXP_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def full_env():
    env = envs.make("webshop")  # the registered default: 5,000 products, 2000/500/200 tasks
    yield env
    env.close()


@pytest.fixture
def small_env():
    env = envs.make("webshop", **SMALL)
    yield env
    env.close()


def run_expert(env, task_id, seed=0):
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    trace = [obs]
    while info["expert_action"] is not None:
        obs, r, term, trunc, info = env.step(info["expert_action"])
        trace.append(obs)
        if term or trunc:
            break
    return trace, info, r


# ------------------------------------------------------------------ catalog and splits
def test_default_catalog_size_and_fields(full_env):
    products = full_env.shop.products
    assert len(products) >= 5000
    assert len({p.category for p in products}) >= 10
    assert len({p.asin for p in products}) == len(products)
    for p in products[:500]:
        assert p.title and p.description and p.features and p.attributes and p.options
        assert all(values for values in p.options.values()) and p.price > 0


def test_splits_are_fixed_sized_and_disjoint(full_env):
    sizes = {split: len(full_env.tasks(split)) for split in full_env.splits}
    assert sizes == {"train": 2000, "test": 500, "ood": 200}
    assert full_env.tasks("train") == envs.make("webshop").tasks("train")
    targets = {s: {full_env.shop.task(t).goal.asin for t in full_env.tasks(s)} for s in sizes}
    assert not targets["train"] & targets["test"]
    held_out = {c.product_types[-1] for c in vocab.CATEGORIES}
    assert {full_env.shop.task(t).goal.name for t in full_env.tasks("ood")} <= held_out
    assert not {full_env.shop.task(t).goal.name for t in full_env.tasks("train")} & held_out
    with pytest.raises(UnknownSplitError):
        full_env.tasks("dev")
    with pytest.raises(UnknownTaskError):
        full_env.reset(options={"task_id": "train-99999"})


def test_generation_is_deterministic_and_seeded():
    assert catalog.generate_catalog(150, 3) == catalog.generate_catalog(150, 3)
    assert catalog.generate_catalog(150, 3) != catalog.generate_catalog(150, 4)


def test_cache_is_written_atomically_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    first = catalog.load_catalog(120, 7)
    path = next((tmp_path / "webshop").glob("catalog-*/products.json"))
    assert not list(path.parent.glob(".*.tmp"))  # no temp file left behind
    path.write_text(path.read_text()[:1000])      # a truncated file, as a crash might leave
    assert catalog.load_catalog(120, 7) == first
    assert cache.cached_json(path, lambda: 1/0) is not None  # now valid: read, not rebuilt


def test_vocabulary_values_never_fuzzy_match_each_other():
    def close(a, b):
        return fuzz.token_set_ratio(a, b, processor=default_process) > reward.FUZZY_THRESHOLD
    for category in vocab.CATEGORIES:
        attributes = [a for group in category.attribute_groups for a in group]
        assert not [(a, b) for a, b in itertools.combinations(attributes, 2) if close(a, b)]
        for values in category.options.values():
            assert not [(a, b) for a, b in itertools.combinations(values, 2) if close(a, b)]
            # Options are compared after WebShop's colour normalisation: no new collisions.
            assert not [(a, b) for a, b in itertools.combinations(values, 2)
                        if reward.option_match(a, b)]
        all_values = [v for values in category.options.values() for v in values]
        assert len(all_values) == len(set(all_values)), category.path


# ------------------------------------------------------------------ reward formula
SHIRT = Product("B0TESTSHRT", "Acme Men's Slim Fit Dress Shirt", "dress shirt",
                ("Clothing", "Men", "Shirts"), ("machine washable", "slim fit", "cotton blend"),
                {"color": ("navy", "white"), "size": ("small", "large")}, 35.0,
                "A crisp shirt. It is wrinkle free.", ("SLIM FIT: tailored",))
GOAL = Goal("B0TESTSHRT", "dress shirt", ("Clothing", "Men", "Shirts"),
            ("machine washable", "slim fit"), {"color": "navy", "size": "large"}, 40.0)


def bought(product=SHIRT, chosen=None, goal=GOAL):
    return purchase_reward(product, {"color": "navy", "size": "large"} if chosen is None
                           else chosen, goal)


def test_reward_exact_match_is_one():
    assert bought().total == 1.0


def test_reward_counts_attributes_options_and_price():
    # 2 attributes + 1 of 2 options + price ok, out of 2 + 2 + 1
    assert bought(chosen={"color": "navy", "size": "small"}).total == pytest.approx(4 / 5)
    assert bought(chosen={}).total == pytest.approx(3 / 5)
    pricey = Product(*[getattr(SHIRT, f) for f in ("asin", "title", "name", "category",
                                                  "attributes", "options")], 55.0,
                     SHIRT.description, SHIRT.features)
    assert bought(pricey).total == pytest.approx(4 / 5) and bought(pricey).price_ok is False


def test_reward_attribute_matching_is_fuzzy_and_reads_the_text():
    goal = Goal(GOAL.asin, GOAL.name, GOAL.category, ("Machine-Washable", "wrinkle free",
                                                       "waterproof"), GOAL.options, 40.0)
    result = bought(goal=goal)
    # "Machine-Washable" fuzzily, "wrinkle free" from the description, "waterproof" nowhere
    assert result.attribute_matches == 2
    assert result.total == pytest.approx((2 + 2 + 1) / (3 + 2 + 1))


def test_reward_type_match_scales_everything():
    polo = Goal(GOAL.asin, "polo shirt", GOAL.category, GOAL.attributes, GOAL.options, 40.0)
    assert bought(goal=polo).r_type == 1.0            # same category path, half the type words
    tent = Goal(GOAL.asin, "camping tent", ("Sports & Outdoors", "Camping"), GOAL.attributes,
                GOAL.options, 40.0)
    assert bought(goal=tent).r_type == 0.0 and bought(goal=tent).total == 0.0
    vague = Goal(GOAL.asin, "big heavy outdoor storage drive shirt", ("Garden", "Tools"),
                 GOAL.attributes, GOAL.options, 40.0)
    result = bought(goal=vague)                       # 1 of 6 type words, no category match
    assert result.title_score == pytest.approx(1 / 6) and result.r_type == 0.5
    assert result.total == pytest.approx(0.5)


def test_colours_are_normalised_before_options_match_as_in_webshop():
    # WebShop scans its alphabetical colour list and keeps the first word found in the value
    # (as a substring); worked out by hand for these values:
    for value, colour in [("rose gold", "gold"), ("navy blue", "blue"), ("darkred", "dark"),
                          ("light grey heather", "grey"), ("Burgundy", "burgundy"),
                          ("redwood", "red"), ("xl", "xl"), ("2 pack", "2 pack")]:
        assert reward.normalize_color(value) == colour, value
    earbuds = Product("B0TESTBUDS", "Acme Wireless Earbuds", "wireless earbuds",
                      ("Electronics", "Audio"), ("noise cancelling",),
                      {"color": ("rose gold", "rosegold", "black")}, 50.0, "Earbuds.", ())
    wants = {colour: Goal("B0TESTBUDS", "wireless earbuds", ("Electronics", "Audio"),
                          ("noise cancelling",), {"color": colour}, 60.0)
             for colour in ("rose", "gold")}
    # Without normalisation "rose gold" fuzzily equals "rose" (token subset, 100) and
    # "rosegold" differs from "gold" (67); with it, the other way round, as in WebShop.
    assert purchase_reward(earbuds, {"color": "rose gold"}, wants["rose"]).option_matches == 0
    assert purchase_reward(earbuds, {"color": "rose gold"}, wants["gold"]).option_matches == 1
    assert purchase_reward(earbuds, {"color": "rosegold"}, wants["gold"]).option_matches == 1
    assert reward.best_options(earbuds, wants["gold"]) == {"color": "rose gold"}
    assert reward.attainable_reward(earbuds, wants["gold"]) == 1.0


# ------------------------------------------------------------------ expert and episodes
@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_expert_solves_a_sample_of_tasks(full_env, split):
    ids = full_env.tasks(split)
    for task_id in random.Random(split).sample(ids, 25):
        trace, info, last_reward = run_expert(full_env, task_id)
        assert info["success"] and last_reward == 1.0, (task_id, trace[-1])
        assert "Your score (min 0.0, max 1.0): 1.00" in trace[-1]


def test_expert_recovers_from_detours(small_env):
    _, info = small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[1]})
    *_, info = small_env.step("search[gel pens]")                 # probably the wrong query
    for _ in range(30):
        _, _, term, _, info = small_env.step(info["expert_action"])
        if term:
            break
    assert info["success"]


def test_deterministic_given_task_and_seed():
    def episode():
        env = envs.make("webshop", **SMALL)
        obs, info = env.reset(seed=5, options={"task_id": env.tasks("test")[2]})
        rng, trace = random.Random(1), [obs]
        for _ in range(12):
            obs, _, term, trunc, info = env.step(rng.choice(info["admissible_actions"]))
            trace.append(obs)
            if term or trunc:
                break
        return trace
    assert episode() == episode()


def test_native_snapshot_matches_replay_and_is_faster(full_env):
    obs, info = full_env.reset(seed=0, options={"task_id": full_env.tasks("train")[3]})
    for _ in range(3):
        obs, *_, info = full_env.step(info["expert_action"])
    native, replay = full_env.snapshot(), full_env.snapshot(mode="replay")
    assert native.native is not None and replay.native is None
    full_env.step(info["admissible_actions"][0])
    assert full_env.restore(native) == full_env.restore(replay) == (obs, info)

    def seconds(snap, n=30):
        start = time.perf_counter()
        for _ in range(n):
            full_env.restore(snap)
        return time.perf_counter() - start
    assert seconds(native) < seconds(replay)
    # the restored state is independent of the snapshot: stepping does not change it
    full_env.restore(native)
    full_env.step(info["expert_action"])
    assert full_env.restore(native)[0] == obs


# ------------------------------------------------------------------ bad input
def test_bad_actions_explain_and_leave_the_page(small_env):
    obs, info = small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    for action in ["click[Buy Now]", "search[]", "search[   ]", "click[]", "buy", "click]x[",
                   "search[a", "CLICK[Nowhere]"]:
        obs2, r, term, _trunc, info2 = small_env.step(action)
        assert not info2["valid_action"] and not term and r == 0.0
        assert obs2.endswith(obs)        # the message, then the unchanged page
    small_env.step(info["expert_action"])
    obs3, *_, info3 = small_env.step("search[shoes]")
    assert not info3["valid_action"] and "Back to Search" in obs3
    _obs4, *_, info4 = small_env.step("click[next >]")   # buttons match ignoring case
    assert info4["valid_action"] and info4["page"] == "results"


def test_queries_are_capped_at_the_servers_400_characters(small_env):
    obs, info = small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    words = ("navy shirt " * 40).split()
    longest = " ".join(words)[:MAX_QUERY_CHARS].strip()
    too_long = longest + " xl" * 5
    assert len(longest) <= MAX_QUERY_CHARS < len(too_long)
    obs2, _, term, _, info2 = small_env.step(f"search[{too_long}]")
    assert not info2["valid_action"] and not term and info2["page"] == "search"
    assert f"the query has {len(too_long)} characters; at most {MAX_QUERY_CHARS}" in obs2
    assert obs2.endswith(obs)  # nothing was searched, the page is unchanged
    _, _, _, _, info3 = small_env.step(f"search[{longest}]")
    assert info3["valid_action"] and info3["page"] == "results"


def test_fuzzed_near_valid_actions_never_raise(small_env):
    rng = random.Random(0)
    words = ["Back to Search", "Next >", "< Prev", "Buy Now", "Features", "Description", "]",
             "[", "navy", "xl", "B0", "shirt", "'", '"', "<b>", "\n"]
    small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    for _ in range(1000):
        verb = rng.choice(["search", "click", "Click", "SEARCH", "buy"])
        junk = "".join(rng.choice(words + list(string.printable)) for _ in range(rng.randint(0, 5)))
        obs, _, term, trunc, _info = small_env.step(f"{verb}[{junk}]")
        assert isinstance(obs, str) and len(obs) < 1 << 20
        if term or trunc:
            small_env.reset(seed=0, options={"task_id": small_env.tasks("train")[0]})
    assert run_expert(small_env, small_env.tasks("train")[0])[1]["success"]


# ------------------------------------------------------------------ the web site
class _Page(HTMLParser):
    """The visible text, the button labels and the page kind of one HTML page."""

    def __init__(self, html):
        super().__init__()
        self.text, self.buttons, self.kind, self._skip = [], [], None, False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._skip = tag in ("style", "title")
        if tag == "body":
            self.kind = attrs.get("data-page")
        if tag == "button" and attrs.get("name") == "button":
            self.buttons.append(attrs["value"])

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def handle_endtag(self, tag):
        self._skip = False

    @property
    def visible(self):
        return " ".join(" ".join(self.text).split())


def _post(url, **fields):
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return response.read().decode()


def test_site_and_text_env_agree_page_for_page(small_env):
    task_id = small_env.tasks("test")[1]
    obs, info = small_env.reset(seed=0, options={"task_id": task_id})
    with running_server(**SMALL) as base:
        with urllib.request.urlopen(f"{base}/?task={task_id}", timeout=10) as response:
            url, html = response.url, response.read().decode()
        while True:
            page = _Page(html)
            assert page.kind == info["page"]
            assert [f"click[{b}]" for b in page.buttons] == (
                info["admissible_actions"] if info["page"] != "search" else [])
            for line in obs.splitlines():
                if not line.startswith("Search the catalog"):
                    words = line.replace("[", " ").replace("]", " ").split()
                    assert " ".join(words) in page.visible
            action = info["expert_action"]
            if action is None:
                break
            verb, argument = re.fullmatch(r"(search|click)\[(.*)\]", action).groups()
            html = _post(url, **({"query": argument} if verb == "search" else {"button": argument}))
            obs, _, _term, _, info = small_env.step(action)
        assert info["success"] and "Your score (min 0.0, max 1.0): 1.00" in html


def test_site_escapes_catalog_and_user_strings():
    with running_server(**SMALL) as base:
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            url = response.url
        html = _post(url, query="<script>alert(1)</script> dress")
        assert "<script>" not in html and "&lt;script&gt;" in html
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/session/nope", timeout=10)
        assert missing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as unknown_task:
            urllib.request.urlopen(f"{base}/?task=train-77777", timeout=10)
        assert unknown_task.value.code == 404


def _raw_request(base, method, path, body=None):
    """One HTTP exchange without following redirects: (status, headers, body text)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_every_response_carries_the_security_headers():
    wanted = {"content-security-policy", "x-frame-options", "x-content-type-options"}
    with running_server(**SMALL) as base:
        status, headers, _ = _raw_request(base, "GET", "/")
        assert status == 303
        session = headers["location"]
        long_query = urllib.parse.urlencode({"query": "shirt " * 100}).encode()
        exchanges = {
            "start (redirect)": (status, headers),
            "page": _raw_request(base, "GET", session)[:2],
            "search (redirect)": _raw_request(base, "POST", session, long_query)[:2],
            "stylesheet": _raw_request(base, "GET", "/style.css")[:2],
            "unknown session": _raw_request(base, "GET", "/session/nope")[:2],
            "unknown task": _raw_request(base, "GET", "/?task=train-77777")[:2],
            "no such route": _raw_request(base, "GET", "/admin")[:2],
            "wrong method": _raw_request(base, "DELETE", session)[:2],
        }
        for name, (code, got) in exchanges.items():
            got = {key.lower(): value for key, value in got.items()}
            assert wanted <= set(got), (name, code, got)
            assert got["x-content-type-options"] == "nosniff", name
            assert got["x-frame-options"] == "DENY", name
            policy = dict(part.strip().split(" ", 1) for part in
                          got["content-security-policy"].split(";"))
            assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
            assert policy["style-src"] == "'self'" and policy["form-action"] == "'self'"
        assert [exchanges[n][0] for n in ("page", "stylesheet", "unknown session", "wrong method")
                ] == [200, 200, 404, 405]
        # The over-long query came back as the environment's explanation, nothing searched.
        _, _, html = _raw_request(base, "GET", session)
        assert f"at most {MAX_QUERY_CHARS} are searched" in html and 'data-page="search"' in html
        assert "<style" not in html and 'href="/style.css"' in html  # CSP allows no inline style


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (Debian: apt-get install "
                                                 "chromium); the browser purchase test needs it")
def test_headless_chromium_completes_a_purchase(small_env):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the `playwright` package drives Chromium here")
    task_id = small_env.tasks("train")[2]
    _obs, info = small_env.reset(seed=0, options={"task_id": task_id})
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with running_server(**SMALL) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=flags)
        try:
            page = browser.new_page()  # a fresh context: its own empty profile
            page.goto(f"{base}/?task={task_id}")
            while info["expert_action"] is not None:
                verb, argument = re.fullmatch(r"(search|click)\[(.*)\]",
                                              info["expert_action"]).groups()
                if verb == "search":
                    page.fill("#query", argument)
                    page.get_by_role("button", name="Search", exact=True).click()
                else:
                    page.get_by_role("button", name=argument, exact=True).click()
                page.wait_for_load_state()
                *_, info = small_env.step(info["expert_action"])
                assert page.locator("body").get_attribute("data-page") == info["page"]
            assert page.inner_text("#score") == "Your score (min 0.0, max 1.0): 1.00"
        finally:
            browser.close()
