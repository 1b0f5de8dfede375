"""Leaky protocols, on purpose: the switches that reproduce how published numbers got inflated.

ferpipe's own protocol never lets a test image, or anything made from one, reach training.
Some reports did: they balanced before splitting, or added extra data holding the test images.
These switches rebuild such protocols to show what they are worth; every stage that sees one
shouts, the audit report lists it, and every MLflow run carries ``leaky=true``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferpipe.schema import Audit, Balance, Params


def deliberate_leaks(balance: Balance, audit: Audit) -> list[str]:
    """The leaky switches these two sections turn on, each as a sentence; empty for an honest run."""
    leaks = []
    if balance.scope == "before_split":
        leaks.append(
            "balance.scope=before_split: training, validation and test images are balanced together and "
            "split afterwards, so test images (and synthetic images made from them) sit in training"
        )
    if audit.policy == "keep":
        leaks.append(
            "audit.policy=keep: validation/test images that have copies in training are reported but left there"
        )
    return leaks


def leak_tags(params: Params) -> dict[str, str]:
    """MLflow tags: ``leaky`` (``true``/``false``) and, when leaky, which switches."""
    leaks = deliberate_leaks(params.balance, params.audit)
    tags = {"leaky": str(bool(leaks)).lower()}
    if leaks:
        tags["ferpipe.leaks"] = "; ".join(leak.split(":")[0] for leak in leaks)
    return tags


def warn_if_leaky(params: Params) -> list[str]:
    """Print a banner to stderr when the protocol leaks on purpose; returns the leaks."""
    return shout(deliberate_leaks(params.balance, params.audit))


def shout(leaks: list[str]) -> list[str]:
    """Print the leaks as a banner to stderr (nothing when there are none); returns them."""
    if leaks:
        bar = "!" * 78
        lines = [bar, "LEAKY PROTOCOL, ON PURPOSE: these numbers are NOT honest test accuracy.", *leaks, bar]
        print("\n".join(lines), file=sys.stderr)
    return leaks
