"""The oracle: the best next action from any state of a WebShop episode.

It searches with the instruction's key words, opens the first result that
can earn reward 1 (the target, or an equally good product), selects the
goal's options and buys. It reads only the current state, so after any
detour (another query, a wrong item, a features page) it finds its way
back: that is what branching needs from `info["expert_action"]`.
"""
from __future__ import annotations

from earlyexp.envs.webshop import pages
from earlyexp.envs.webshop.reward import best_options
from earlyexp.envs.webshop.shop import Session, Shop
from earlyexp.envs.webshop.tasks import Task


def expert_action(shop: Shop, task: Task, session: Session) -> str | None:
    """The oracle's next action, or None once the purchase is made."""
    if session.page == "done":
        return None
    if session.page == "search":
        return f"search[{task.expert_query}]"
    if session.page == "results":
        return _from_results(shop, task, session)
    if session.page in ("description", "features"):
        return f"click[{pages.PREV}]"
    return _from_item(shop, task, session)


def _from_results(shop: Shop, task: Task, session: Session) -> str:
    winners = [pos for pos, i in enumerate(session.results) if shop.attainable(task, i) == 1.0]
    if not winners:
        return f"click[{pages.BACK_TO_SEARCH}]"
    position = winners[0]
    target_page = position // pages.RESULTS_PER_PAGE + 1
    if target_page == session.page_no:
        return f"click[{shop.products[session.results[position]].asin}]"
    return f"click[{pages.NEXT if target_page > session.page_no else pages.PREV}]"


def _from_item(shop: Shop, task: Task, session: Session) -> str:
    if shop.attainable(task, session.item) < 1.0:
        return f"click[{pages.PREV}]"
    product = shop.products[session.item]
    best = best_options(product, task.goal)
    for kind in product.options:
        if kind in task.goal.options and session.chosen.get(kind) != best[kind]:
            return f"click[{best[kind]}]"
    return f"click[{pages.BUY_NOW}]"
