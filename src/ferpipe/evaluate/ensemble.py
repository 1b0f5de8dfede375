"""Ensembles of member probabilities: average, weighted average, majority vote.

Weights are fitted on the validation split only; the test split is only ever scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import softmax

from ferpipe.named import Registry

METHODS = ("average", "weighted", "vote")  # the order reports and MLflow list them in
COMBINERS: Registry = Registry("ensemble method")


@COMBINERS.register("average")
def average(probs: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """The mean of the members' class probabilities."""
    return np.mean(np.stack(probs), axis=0)


@COMBINERS.register("weighted")
def weighted_average(probs: Sequence[np.ndarray], weights: np.ndarray | None) -> np.ndarray:
    """Members' probabilities mixed with non-negative weights that sum to one."""
    if weights is None:
        raise ValueError("the weighted ensemble needs weights (fitted on validation)")
    return np.tensordot(weights, np.stack(probs), axes=1)


def fit_weights(val_probs: Sequence[np.ndarray], val_labels: np.ndarray) -> np.ndarray:
    """Weights minimising the validation log loss of the mixture (softmax-parameterised)."""
    stack = np.stack(val_probs)
    picked = stack[:, np.arange(len(val_labels)), val_labels]  # (members, n)

    def loss(z: np.ndarray) -> float:
        return float(-np.mean(np.log(softmax(z) @ picked + 1e-12)))

    result = minimize(loss, np.zeros(len(stack)), method="L-BFGS-B")
    return softmax(result.x)


def fitted_weights(summary: dict[str, Any], method: str) -> np.ndarray | None:
    """The weights the ensemble stage fitted (``metrics/details/ensemble.json``), in its members'
    order, for the weighted method; None for the methods that use none."""
    if method != "weighted":
        return None
    return np.array([summary["weights"][m] for m in summary["members"]], dtype=np.float64)


@COMBINERS.register("vote")
def majority_vote(probs: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """Vote shares per class; ties go to the class with the higher mean probability.

    Returned as scores that sum to one per row, so top-k metrics still apply.
    """
    stack = np.stack(probs)
    n_classes = stack.shape[2]
    votes = np.stack([np.bincount(row, minlength=n_classes) for row in stack.argmax(axis=2).T])
    scores = votes / len(stack) + 1e-3 * stack.mean(axis=0)  # mean prob < 1 vote: only breaks ties
    return scores / scores.sum(axis=1, keepdims=True)


def combine(method: str, probs: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """Apply one ensemble method to the members' probabilities (``weights`` for ``weighted``)."""
    return COMBINERS[method](probs, weights)


def combine_views(method: str, stacks: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """The method applied view by view to members' (views, n, classes) stacks of probabilities (the
    same faces under each corruption, :mod:`ferpipe.evaluate.robustness`)."""
    return np.stack([combine(method, [stack[v] for stack in stacks], weights) for v in range(len(stacks[0]))])
