"""Built-in metrics plugin: loss, accuracy, perplexity and bits per token.

Each metric turns a task's aggregated evaluation statistics into one number, or ``None``
where it does not apply (perplexity only where the task predicts tokens).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

from seqbench.hookspecs import hookimpl

# whether higher is better, per built-in metric (what every run's tables and comparisons assume)
DIRECTIONS = {"loss": False, "accuracy": True, "perplexity": False, "bits_per_token": False}


def loss(stats: Mapping[str, float]) -> Optional[float]:
    return stats.get("loss")


def accuracy(stats: Mapping[str, float]) -> Optional[float]:
    return stats.get("accuracy")


def perplexity(stats: Mapping[str, float]) -> Optional[float]:
    ce = stats.get("ce_nats")
    return None if ce is None else math.exp(min(ce, 700.0))


def bits_per_token(stats: Mapping[str, float]) -> Optional[float]:
    ce = stats.get("ce_nats")
    return None if ce is None else ce / math.log(2)


@hookimpl
def seqbench_register_metrics(register):
    register("loss", loss, DIRECTIONS["loss"], description="the task's evaluation loss (MSE or cross-entropy)")
    register("accuracy", accuracy, DIRECTIONS["accuracy"], description="fraction of predicted tokens that are right (recall positions)")
    register("perplexity", perplexity, DIRECTIONS["perplexity"], description="exp of the mean cross-entropy in nats per token")
    register("bits_per_token", bits_per_token, DIRECTIONS["bits_per_token"], description="mean cross-entropy in bits per token")
