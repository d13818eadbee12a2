"""WebShop-style shopping over a generated catalog, as text and as a web site (see README.md)."""
from earlyexp.envs.registration import register

register(
    "webshop",
    "earlyexp.envs.webshop.env:WebShopEnv",
    gym_name="WebShop",
    description="WebShop-style shopping: generated catalog, BM25 search, WebShop's reward",
    kwargs={"num_products": 5000, "catalog_seed": 0, "num_train": 2000, "num_test": 500,
            "num_ood": 200, "max_steps": 30},
    smoke_kwargs={"num_products": 600, "catalog_seed": 0, "num_train": 12, "num_test": 6,
                  "num_ood": 6, "max_steps": 30},
)
