"""The model registry's policy: MLflow's champion/challenger convention, with one rule a user can reason about.

Each pipeline registers its best (member or ensemble method, chosen on validation) as a new
version of the registered model and points ``@challenger`` at it. ``@champion`` moves to the
challenger only when it beats the champion's validation accuracy on the same data (the same
data hash); otherwise it stays where it is until a person says so (``ferpipe promote``).

Every version keeps its validation predictions beside it (``val_predicted.npy``), so the
challenger is also compared with the champion paired on the same validation faces (McNemar's
test and a bootstrap interval): the stage says whether the gain is beyond noise, the version
is tagged with it, and ``mlflow.promote_on: beyond_noise`` moves ``@champion`` only then (the
default, ``any_gain``, keeps the rule above).
``ferpipe predict`` and ``mlflow models serve -m models:/<name>@champion`` answer with the
same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ferpipe.evaluate.uncertainty import Comparison, compare

CHAMPION = "champion"
CHALLENGER = "challenger"
VAL_TAG = "val_accuracy"
TEST_TAG = "test_accuracy"
DATA_TAG = "data.hash"
GAIN_TAG = "ferpipe.val_gain"  # the paired comparison's sentence
NOISE_TAG = "ferpipe.val_gain_beyond_noise"  # true, false, or unknown (no champion predictions to pair with)
VAL_PREDICTIONS = "val_predicted.npy"  # stored beside each registered version


@dataclass(frozen=True)
class Decision:
    """Whether the challenger becomes champion, and the sentence that says why."""

    promote: bool
    reason: str


def decide(
    val_accuracy: float,
    data_hash: str,
    champion: Any | None,
    gain: Comparison | None = None,
    rule: str = "any_gain",
) -> Decision:
    """The rule: promote when there is no champion, or the challenger beats it on the same data
    (under ``beyond_noise``: by more than noise, paired on the same validation faces)."""
    if champion is None:
        return Decision(True, "there was no champion yet")
    old_val, old_data = champion.tags.get(VAL_TAG), champion.tags.get(DATA_TAG)
    if old_val is None or old_data != data_hash:
        return Decision(
            False,
            f"champion v{champion.version} was scored on other data ({old_data or 'unknown'} vs {data_hash}): "
            f"validation accuracies are not comparable; `ferpipe promote VERSION` decides",
        )
    noise = f"; {gain.sentence()}" if gain is not None else "; no stored validation predictions to pair with"
    if val_accuracy > float(old_val) and rule == "beyond_noise" and not (gain is not None and gain.beyond_noise):
        return Decision(
            False,
            f"validation accuracy {val_accuracy:.4f} beats champion v{champion.version}'s {float(old_val):.4f} "
            f"but not beyond noise, which mlflow.promote_on: beyond_noise asks for{noise}",
        )
    if val_accuracy > float(old_val):
        return Decision(
            True,
            f"validation accuracy {val_accuracy:.4f} beats champion v{champion.version}'s {float(old_val):.4f}{noise}",
        )
    return Decision(
        False,
        f"validation accuracy {val_accuracy:.4f} does not beat champion v{champion.version}'s {float(old_val):.4f}"
        f"{noise}",
    )


def aliased(client: Any, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def stored_val_predictions(client: Any, version: Any) -> np.ndarray | None:
    """The validation predictions a registered version keeps beside it; None for one registered
    before they were kept (or whose artifacts cannot be read)."""
    import tempfile

    import mlflow

    try:
        location = mlflow.get_logged_model(version.source.removeprefix("models:/")).artifact_location
        with tempfile.TemporaryDirectory() as folder:
            found = mlflow.artifacts.download_artifacts(f"{location}/{VAL_PREDICTIONS}", dst_path=folder)
            return np.load(found)
    except Exception:  # an old version, a moved store: the rule goes on without the pairing
        return None


def paired_gain(
    client: Any, champion: Any | None, val_labels: np.ndarray, challenger: np.ndarray, version: str, data_hash: str
) -> Comparison | None:
    """The challenger against the champion on the same validation faces, where both kept their
    predictions and were scored on the same data (else None)."""
    if champion is None or champion.tags.get(DATA_TAG) != data_hash:
        return None
    theirs = stored_val_predictions(client, champion)
    if theirs is None or len(theirs) != len(challenger):
        return None
    return compare(val_labels, theirs, challenger, (f"champion v{champion.version}", f"challenger v{version}"))


def settle(
    client: Any,
    name: str,
    version: str,
    val_accuracy: float,
    data_hash: str,
    val_labels: np.ndarray,
    val_predicted: np.ndarray,
    rule: str = "any_gain",
) -> Decision:
    """Make ``version`` the challenger, and the champion when the rule says so; tag it with how its
    validation accuracy compares with the champion's, paired on the same faces."""
    client.set_registered_model_alias(name, CHALLENGER, version)
    champion = aliased(client, name, CHAMPION)
    gain = paired_gain(client, champion, val_labels, val_predicted, version, data_hash)
    decision = decide(val_accuracy, data_hash, champion, gain, rule)
    client.set_model_version_tag(
        name, version, NOISE_TAG, "unknown" if gain is None else str(gain.beyond_noise).lower()
    )
    if gain is not None:
        client.set_model_version_tag(name, version, GAIN_TAG, gain.sentence())
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
