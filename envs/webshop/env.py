"""`WebShopEnv`: WebShop-style shopping over a generated catalog, as a text environment."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.webshop import shop as engine
from earlyexp.envs.webshop.expert import expert_action
from earlyexp.envs.webshop.pages import PageView, render_text
from earlyexp.envs.webshop.tasks import Task


class WebShopEnv(TextEnv):
    """Find and buy the product an instruction describes in a generated web shop.

    Description:
        WebShop (Yao et al., 2022) over a generated catalog (by default 5,000
        products in 13 categories, each with a title, category path,
        attributes, options, price, description and features). Pages as in
        WebShop: search, results (10 per page), item (options, Description,
        Features, Buy Now), description and features. The same engine is
        served as HTML by `earlyexp.envs.webshop.server`.

    Action Space:
        `search[query]` on the search page (BM25 over the catalog, at most 50
        results; a query over 400 characters is invalid, as on the web
        server) and `click[button text]` for any button the page shows
        (`Back to Search`, `Next >`, `< Prev`, a product id, an option value,
        `Description`, `Features`, `Buy Now`), matched ignoring case. Anything
        else is invalid.

    Observation Space:
        The page as text: the instruction, the page's buttons in brackets and
        its content (results with prices, or the item with its options).

    Starting State:
        The search page of the task's instruction. A task is fully determined
        by its id; the seed does not change it.

    Reward:
        0 until `Buy Now`; then WebShop's reward, r_type × (matched attributes
        + matched options + price within bound) / (goal attributes + goal
        options + 1), with fuzzy attribute and option matching.

    Episode End:
        Terminated by `Buy Now`; truncated after `max_steps` steps.

    Information:
        The contract's keys (`success` is reward 1; `score` is the purchase
        reward, 0 before buying; on the search page `admissible_actions`
        lists suggested queries, since any query is allowed) plus `page`
        (search, results, item, description, features, done) and, once bought,
        `purchase` (every term of the reward).

    Arguments:
        num_products: catalog size (at least 100; 5,000 by default).
        catalog_seed: seed the catalog and the tasks are generated from.
        num_train, num_test, num_ood: number of tasks per split.
        max_steps: truncation limit.
    """

    splits = ("train", "test", "ood")

    def __init__(self, num_products: int = 5000, catalog_seed: int = 0, num_train: int = 2000,
                 num_test: int = 500, num_ood: int = 200, max_steps: int = 30, **kwargs: Any):
        super().__init__(max_steps=max_steps, **kwargs)
        self.shop = engine.load_shop(num_products, catalog_seed, num_train, num_test, num_ood)
        self._task: Task | None = None
        self._session = engine.Session()

    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [task.task_id for task in self.shop.tasks[split]]

    def page_view(self) -> PageView:
        """The current page as a structured view (the web server renders it as HTML)."""
        return engine.view(self.shop, self._task, self._session)

    def _load_task(self, task_id: str, seed: int) -> str:
        self._task = self.shop.task(task_id)
        self._session = engine.Session()
        return render_text(self.page_view())

    def _act(self, action: str) -> Outcome:
        result = engine.act(self.shop, self._task, self._session, action)
        page = render_text(self.page_view())
        if not result.valid:
            # The page stays in view, so the observation alone says where the agent still is.
            return Outcome(f"{result.message}\n\n{page}", valid_action=False)
        return Outcome(page, result.reward, result.done)

    def _status(self) -> Status:
        session, purchase = self._session, self._session.purchase
        extra: dict[str, Any] = {"page": session.page}
        if purchase is not None:
            extra["purchase"] = asdict(purchase)
        return Status(
            goal=self._task.instruction,
            success=purchase is not None and purchase.total == 1.0,
            score=purchase.total if purchase is not None else 0.0,
            admissible_actions=self._admissible(),
            expert_action=expert_action(self.shop, self._task, session),
            extra=extra,
        )

    def _admissible(self) -> list[str]:
        if self._session.page == "search":
            goal = self._task.goal
            queries = [self._task.expert_query, goal.name, " ".join((*goal.attributes, goal.name)),
                       self._task.instruction]
            return [f"search[{q}]" for q in dict.fromkeys(queries)]
        return [f"click[{label}]" for label in self.page_view().clickables]

    def search_query(self, action: str) -> str | None:
        """The query of `search[query]` (whitespace collapsed), else None."""
        match = engine.ACTION_PATTERN.fullmatch(action.strip())
        if match is None or match.group(1).lower() != "search":
            return None
        return " ".join(match.group(2).split()) or None

    def _native_snapshot(self) -> tuple[str, engine.Session]:
        return self._task.task_id, self._session.copy()

    def _native_restore(self, state: tuple[str, engine.Session]) -> None:
        task_id, session = state
        self._task = self.shop.task(task_id)
        self._session = session.copy()  # the snapshot stays reusable
