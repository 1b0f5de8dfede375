"""The model registry's policy: MLflow's champion/challenger convention, with one rule a user can reason about.

Each pipeline registers its best (member or ensemble method, chosen on validation) as a new
version of the registered model and points ``@challenger`` at it. ``@champion`` moves to the
challenger only when it beats the champion's validation accuracy on the same data (the same
data hash); otherwise it stays where it is until a person says so (``ferpipe promote``).
``ferpipe predict`` and ``mlflow models serve -m models:/<name>@champion`` answer with the
same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
VAL_TAG = "val_accuracy"
TEST_TAG = "test_accuracy"
DATA_TAG = "data.hash"


@dataclass(frozen=True)
class Decision:
    """Whether the challenger becomes champion, and the sentence that says why."""

    promote: bool
    reason: str


def decide(val_accuracy: float, data_hash: str, champion: Any | None) -> Decision:
    """The rule: promote when there is no champion, or the challenger beats it on the same data."""
    if champion is None:
        return Decision(True, "there was no champion yet")
    old_val, old_data = champion.tags.get(VAL_TAG), champion.tags.get(DATA_TAG)
    if old_val is None or old_data != data_hash:
        return Decision(
            False,
            f"champion v{champion.version} was scored on other data ({old_data or 'unknown'} vs {data_hash}): "
            f"validation accuracies are not comparable; `ferpipe promote VERSION` decides",
        )
    if val_accuracy > float(old_val):
        return Decision(
            True, f"validation accuracy {val_accuracy:.4f} beats champion v{champion.version}'s {float(old_val):.4f}"
        )
    return Decision(
        False,
        f"validation accuracy {val_accuracy:.4f} does not beat champion v{champion.version}'s {float(old_val):.4f}",
    )


def aliased(client: Any, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def settle(client: Any, name: str, version: str, val_accuracy: float, data_hash: str) -> Decision:
    """Make ``version`` the challenger, and the champion when the rule says so."""
    client.set_registered_model_alias(name, CHALLENGER, version)
    decision = decide(val_accuracy, data_hash, aliased(client, name, CHAMPION))
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    return decision


def promote(client: Any, name: str, version: str) -> Any:
    """A person's decision: point ``@champion`` at ``version`` whatever its numbers; returns that version."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version(name, version)
    except MlflowException as exc:
        raise ValueError(f"registered model {name!r} has no version {version!r}") from exc
    client.set_registered_model_alias(name, CHAMPION, found.version)
    return found
