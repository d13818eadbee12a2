"""The shop engine: catalog, search index and tasks (shared), and one shopper's session.

`Shop` is immutable after loading and shared by every environment and web
session built with the same parameters (`load_shop` memoises it). A
`Session` is the small mutable state of one episode, which is why a native
snapshot is a copy of a few fields, not a replay of searches.

Actions follow WebShop: `search[query]` on the search page, and
`click[button text]` for any button the current page shows (matched
ignoring case and repeated spaces). A query longer than `MAX_QUERY_CHARS`
(after collapsing blanks) is an invalid action that says so; it is never
clipped, so what was searched is always what the agent wrote. The web
server applies the same rule, since every form becomes one of these actions.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace

from earlyexp.envs.webshop import pages
from earlyexp.envs.webshop.cache import cache_root
from earlyexp.envs.webshop.catalog import CATALOG_FORMAT, load_catalog
from earlyexp.envs.webshop.pages import PageView
from earlyexp.envs.webshop.reward import RewardBreakdown, attainable_reward, purchase_reward
from earlyexp.envs.webshop.search import SearchIndex
from earlyexp.envs.webshop.tasks import SPLITS, Task, load_tasks
from earlyexp.errors import UnknownTaskError

ACTION_PATTERN = re.compile(r"(search|click)\[(.*)\]", re.IGNORECASE | re.DOTALL)
#: The longest query the shop searches for, in characters (as the web server allows).
MAX_QUERY_CHARS = 400


class Shop:
    """The catalog, its BM25 index and the task lists of every split."""

    def __init__(self, num_products: int, seed: int, split_sizes: dict[str, int]):
        self.products = load_catalog(num_products, seed)
        self.index = SearchIndex(self.products)
        self.by_asin = {p.asin: i for i, p in enumerate(self.products)}
        cache_dir = cache_root() / f"catalog-v{CATALOG_FORMAT}-n{num_products}-s{seed}"
        self.tasks = {split: load_tasks(cache_dir, self.products, self.index, split, count, seed)
                      for split, count in split_sizes.items()}
        self._task_by_id = {t.task_id: t for split in self.tasks.values() for t in split}
        self._attainable: dict[tuple[str, int], float] = {}

    def task(self, task_id: str) -> Task:
        try:
            return self._task_by_id[task_id]
        except KeyError:
            raise UnknownTaskError("webshop", task_id, self._task_by_id) from None

    def attainable(self, task: Task, product_index: int) -> float:
        """Best reward buying product `product_index` can earn for `task` (memoised)."""
        key = (task.task_id, product_index)
        if key not in self._attainable:
            self._attainable[key] = attainable_reward(self.products[product_index], task.goal)
        return self._attainable[key]


@functools.lru_cache(maxsize=4)
def load_shop(num_products: int, seed: int, num_train: int, num_test: int, num_ood: int) -> Shop:
    """The shared `Shop` for these parameters (built once per process)."""
    for split, count in zip(SPLITS, (num_train, num_test, num_ood)):
        if count < 1:
            raise ValueError(f"num_{split} must be at least 1, got {count}")
    return Shop(num_products, seed, dict(zip(SPLITS, (num_train, num_test, num_ood))))


@dataclass
class Session:
    """One shopper's position in the shop: the page, the last search and the item in view."""

    page: str = "search"
    query: str = ""
    results: tuple[int, ...] = ()
    page_no: int = 1
    item: int | None = None
    chosen: dict[str, str] = field(default_factory=dict)
    purchase: RewardBreakdown | None = None

    def copy(self) -> Session:
        return replace(self, chosen=dict(self.chosen))


@dataclass(frozen=True)
class StepResult:
    """What one action did: a message for an invalid action, the purchase reward at the end."""

    valid: bool
    message: str = ""
    reward: float = 0.0
    done: bool = False


def view(shop: Shop, task: Task, session: Session) -> PageView:
    """The page the session is on."""
    base = PageView(session.page, task.instruction)
    if session.page == "search":
        return base
    if session.page == "results":
        return _results_view(shop, base, session)
    product = shop.products[session.item]
    nav = (pages.BACK_TO_SEARCH, pages.PREV) if session.page != "done" else ()
    buttons = (pages.DESCRIPTION, pages.FEATURES, pages.BUY_NOW) if session.page == "item" else ()
    return replace(base, nav=nav, product=product, chosen=dict(session.chosen),
                   item_buttons=buttons, purchase=session.purchase)


def _results_view(shop: Shop, base: PageView, session: Session) -> PageView:
    page_count = max(1, -(-len(session.results) // pages.RESULTS_PER_PAGE))
    nav = [pages.BACK_TO_SEARCH]
    if session.page_no > 1:
        nav.append(pages.PREV)
    if session.page_no < page_count:
        nav.append(pages.NEXT)
    start = (session.page_no - 1) * pages.RESULTS_PER_PAGE
    shown = session.results[start:start + pages.RESULTS_PER_PAGE]
    return replace(base, nav=tuple(nav), query=session.query, page_no=session.page_no,
                   page_count=page_count, total=len(session.results),
                   results=tuple(shop.products[i] for i in shown))


def act(shop: Shop, task: Task, session: Session, action: str) -> StepResult:
    """Apply one action to `session` in place; never raises for a bad action."""
    match = ACTION_PATTERN.fullmatch(action.strip())
    if match is None:
        return StepResult(False, f"Invalid action {action[:80]!r}: use search[query] on the search "
                                 "page or click[button] with a button shown on the page.")
    verb, argument = match.group(1).lower(), " ".join(match.group(2).split())
    if verb == "search":
        return _search(shop, session, argument)
    return _click(shop, task, session, argument)


def _search(shop: Shop, session: Session, query: str) -> StepResult:
    if session.page != "search":
        return StepResult(False, "There is no search box on this page; click[Back to Search] "
                                 "first.")
    if not query:
        return StepResult(False, "Invalid action: search[] needs a query, e.g. search[red shoes].")
    if len(query) > MAX_QUERY_CHARS:
        return StepResult(False, f"Invalid action: the query has {len(query)} characters; at most "
                                 f"{MAX_QUERY_CHARS} are searched. Use a few key words, e.g. "
                                 "search[navy dress shirt large].")
    session.page, session.query, session.page_no = "results", query, 1
    session.results = tuple(shop.index.search(query))
    return StepResult(True)


def _click(shop: Shop, task: Task, session: Session, label: str) -> StepResult:
    shown = view(shop, task, session).clickables
    button = next((b for b in shown if b.lower() == label.lower()), None)
    if button is None:
        listed = ", ".join(shown) if shown else "none (use search[query])"
        return StepResult(False, f"Invalid action: no button {label[:80]!r} on this page. "
                                 f"Buttons: {listed}.")
    if button == pages.BACK_TO_SEARCH:
        session.page, session.item, session.chosen = "search", None, {}
    elif button in (pages.NEXT, pages.PREV) and session.page == "results":
        session.page_no += 1 if button == pages.NEXT else -1
    elif button == pages.PREV:
        # From an item back to its results; from a description or features back to the item.
        session.page = "results" if session.page == "item" else "item"
    elif session.page == "results":
        session.page, session.item, session.chosen = "item", shop.by_asin[button], {}
    elif button in (pages.DESCRIPTION, pages.FEATURES):
        session.page = button.lower()
    elif button == pages.BUY_NOW:
        return _buy(shop, task, session)
    else:
        kind = next(k for k, values in shop.products[session.item].options.items()
                    if button in values)
        session.chosen[kind] = button
    return StepResult(True)


def _buy(shop: Shop, task: Task, session: Session) -> StepResult:
    session.purchase = purchase_reward(shop.products[session.item], session.chosen, task.goal)
    session.page = "done"
    return StepResult(True, reward=session.purchase.total, done=True)

