"""What one page of the shop shows, and its text rendering.

A `PageView` is built from the shop state and rendered twice: as text by
`render_text` (the environment's observation) and as HTML by the server's
template, so the two always show the same page with the same buttons.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from earlyexp.envs.webshop.catalog import Product
from earlyexp.envs.webshop.reward import RewardBreakdown

RESULTS_PER_PAGE = 10
BACK_TO_SEARCH, PREV, NEXT = "Back to Search", "< Prev", "Next >"
DESCRIPTION, FEATURES, BUY_NOW = "Description", "Features", "Buy Now"
PAGE_KINDS = ("search", "results", "item", "description", "features", "done")


@dataclass(frozen=True)
class PageView:
    """Everything one page shows; `clickables` are its buttons in display order."""

    kind: str
    instruction: str
    nav: tuple[str, ...] = ()
    query: str = ""
    page_no: int = 0
    page_count: int = 0
    total: int = 0
    results: tuple[Product, ...] = ()
    product: Product | None = None
    chosen: dict[str, str] = field(default_factory=dict)
    item_buttons: tuple[str, ...] = ()
    purchase: RewardBreakdown | None = None

    @property
    def clickables(self) -> tuple[str, ...]:
        buttons = [*self.nav, *(p.asin for p in self.results)]
        if self.kind == "item" and self.product is not None:
            buttons += [v for values in self.product.options.values() for v in values]
        return (*buttons, *self.item_buttons)


def render_text(view: PageView) -> str:
    """The observation text of a page."""
    lines = ["WebShop", f"Instruction: {view.instruction}"]
    if view.nav:
        lines.append(_buttons(view.nav))
    lines += _BODY[view.kind](view)
    return "\n".join(lines)


def _buttons(labels) -> str:
    return " ".join(f"[{label}]" for label in labels)


def _search_body(view: PageView) -> list[str]:
    return ["Search the catalog: search[your query]"]


def _results_body(view: PageView) -> list[str]:
    if not view.total:
        return [f'No products match "{view.query}".']
    lines = [(f'Results for "{view.query}": page {view.page_no} of {view.page_count} '
             f"({view.total} products)")]
    lines += [f"[{p.asin}] {p.title} | ${p.price:.2f}" for p in view.results]
    return lines


def _item_body(view: PageView) -> list[str]:
    product = view.product
    lines = [product.title, f"Price: ${product.price:.2f} | Category: {product.category_path}"]
    for kind, values in product.options.items():
        chosen = view.chosen.get(kind)
        lines.append(f"{kind}: {_buttons(values)}" + (f" (selected: {chosen})" if chosen else ""))
    lines.append(_buttons(view.item_buttons))
    return lines


def _description_body(view: PageView) -> list[str]:
    return [f"Description of {view.product.title}:", view.product.description]


def _features_body(view: PageView) -> list[str]:
    return [f"Features of {view.product.title}:", *(f"- {f}" for f in view.product.features)]


def _done_body(view: PageView) -> list[str]:
    options = ", ".join(f"{kind}: {value}" for kind, value in view.chosen.items()) or "no options"
    return ["Thank you for shopping with us!",
            f"You bought: {view.product.title} (${view.product.price:.2f}) with {options}.",
            f"Your score (min 0.0, max 1.0): {view.purchase.total:.2f}"]


_BODY = {"search": _search_body, "results": _results_body, "item": _item_body,
         "description": _description_body, "features": _features_body, "done": _done_body}
