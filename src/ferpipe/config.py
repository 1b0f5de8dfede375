"""One params loader for every stage, and the two roots a stage works from.

A stage reads params and writes outputs in its workspace, the folder holding ``dvc.yaml``;
for a queued ``dvc exp run`` that is DVC's temporary copy of the repo. DVC points
``DVC_ROOT`` at the user's repository even then, so the MLflow store and relative source
paths (``../shared``) resolve there: queued runs log to the same store as any other.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ferpipe.schema import Params


class _ParamsLoader(yaml.SafeLoader):
    """PyYAML that reads ``1e-3`` as a float, as DVC's ruamel does, so both agree on params, and
    refuses a key given twice in one mapping (PyYAML would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may override, on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def repo_root() -> Path:
    """The workspace: the nearest folder holding dvc.yaml (a queued experiment's temporary copy, too)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def home_root(workspace: Path) -> Path:
    """The user's repository: ``DVC_ROOT`` inside a DVC stage, else the workspace itself."""
    env = os.environ.get("DVC_ROOT")
    return Path(env).resolve() if env else Path(workspace).resolve()


# Values a params file may hold once its aliases are expanded. PyYAML shares an aliased value, but
# DVC's reader copies it: nine nested levels of ten aliases each (an "alias bomb") is a few hundred
# bytes of YAML and a billion values to DVC, which hangs reading it. Real params hold a few thousand.
MAX_EXPANDED_VALUES = 1_000_000


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file with the params loader; the error names the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_ParamsLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc  # one line
    expanded = expanded_size(data)
    if expanded > MAX_EXPANDED_VALUES:
        raise ValueError(
            f"{path}: its anchors and aliases expand to {expanded:.3g} values, over {MAX_EXPANDED_VALUES:,} "
            "(a YAML alias bomb?); DVC copies every alias and would hang reading this file"
        )
    return data or {}


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds with every shared (aliased) value counted each time it is used.

    Counted once per distinct object, so a bomb of a billion values costs a few hundred steps."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        if id(value) not in sizes:
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            sizes[id(value)] = 1 + sum(size(item) for item in items)
        return sizes[id(value)]

    return size(data)


def load_params(path: Path | None = None) -> Params:
    """Load ``params.yaml`` from the project root (or the given file), parsed once into the schema's
    typed sections: a stage hands each layer below only its own section.

    Raises ``ParamsError`` (a ValueError) naming every key that does not fit, before the
    caller does any work or opens an MLflow run.
    """
    from ferpipe.schema import parse_params  # pydantic only where params are read

    path = path or repo_root() / "params.yaml"
    return parse_params(load_yaml(path), path.name)


MODEL_FILE = "model.pt"  # a trained model's weights, in its folder under data/models or data/distilled


class Paths:
    """Where every stage reads and writes, relative to one project root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else repo_root()
        self.home = home_root(self.root)
        self.data = self.root / "data"
        self.raw = self.data / "raw"
        self.watch = self.data / "watch"  # each source's fingerprint (the watch stage)
        self.prepared = self.data / "prepared"
        self.audited = self.data / "audited"
        self.balanced = self.data / "balanced"
        self.models = self.data / "models"
        self.predictions = self.data / "predictions"
        self.distilled = self.data / "distilled"  # a folder per student: its model.pt and predictions/
        self.metrics = self.root / "metrics"  # the headline numbers: DVC metrics
        self.details = self.metrics / "details"  # everything else the stages measured (committed, not DVC metrics)

    # Every file a stage writes, named once: the stages, the report, the model card, predict and
    # the recipe records all ask here (dvc.yaml spells the same paths for DVC).
    def model_file(self, name: str) -> Path:
        """A trained model's weights (``train@<name>``)."""
        return self.models / name / MODEL_FILE

    def student_file(self, name: str) -> Path:
        """A distilled student's weights (``distill@<name>``)."""
        return self.distilled / name / MODEL_FILE

    def probabilities(self, name: str, split: str) -> Path:
        """A model's class probabilities on ``val`` or ``test`` (the ensemble's input)."""
        return self.predictions / name / f"{split}.npy"

    def checkpoints(self, name: str) -> Path:
        """A training run's checkpoint folder, left only by an interrupted run."""
        return self.data / "checkpoints" / name

    def headline(self, name: str) -> Path:
        """A stage's or model's headline DVC metrics (``metrics/<name>.json``)."""
        return self.metrics / f"{name}.json"

    def detail(self, name: str) -> Path:
        """Everything else a stage or model measured, ``metrics/details/<name>.json`` (or ``train/<m>``)."""
        return self.details / f"{name}.json"

    def confusion(self, name: str) -> Path:
        """A model's test confusion matrix as the CSV ``dvc plots`` draws."""
        return self.metrics / "confusion" / f"{name}.csv"

    def curves(self, name: str) -> Path:
        """A model's per-epoch training curves."""
        return self.metrics / "curves" / f"{name}.csv"

    @property
    def skipped(self) -> Path:
        """Every bad input item prepare skipped, with its file and row."""
        return self.metrics / "skipped.csv"

    def trained_models(self) -> dict[str, Path]:
        """Every trained model's weights by name: ``data/models/<m>`` (train@) and ``data/distilled/<s>`` (distill@)."""
        found = {p.parent.name: p for p in self.distilled.glob(f"*/{MODEL_FILE}")}
        found.update({p.parent.name: p for p in self.models.glob(f"*/{MODEL_FILE}")})
        return dict(sorted(found.items()))
