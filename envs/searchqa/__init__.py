"""searchqa: Search-R1-style multi-hop question answering over a local corpus (see README.md)."""
from earlyexp.envs.registration import register

register(
    "searchqa",
    "earlyexp.envs.searchqa.env:SearchQAEnv",
    gym_name="SearchQA",
    description="Multi-hop QA over a generated (or user) encyclopedia corpus with BM25 search; "
                "reward F1, success exact match",
    kwargs={"num_passages": 20_000, "num_train": 2_000, "num_test": 500, "num_ood": 500,
            "top_k": 3, "max_searches": 4, "max_steps": 10},
    smoke_kwargs={"num_passages": 600, "num_train": 30, "num_test": 10, "num_ood": 10},
)
