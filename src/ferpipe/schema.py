"""One schema for the whole params file, checked before any stage does work.

Every section is a pydantic model that forbids unknown keys and coerces nothing (``strict``):
a misspelt key, a word where a number belongs or an out-of-range value is an error naming
its key path, never a silent default. :func:`parse_params` parses the file once into these
typed sections; each stage hands the layers below only the sections they need, and a key left
out means the default written here (a ``None`` default: "not set", resolved where the docstring
of that section says, such as a model's training settings over ``train``).

Model ``args`` are a free mapping here: they are checked against the model's builder when the
model is built (first thing in ``train@<model>``), because importing the model zoo costs
seconds that every stage would pay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from ferpipe.choices import (
    AUDIT_POLICIES,
    BALANCE_METHODS,
    DEFAULT_EPOCHS,
    DEFAULT_EVALUATE_BATCH_SIZE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TTA,
    DISTILL_TEACHERS,
    FERPLUS_SCHEMES,
    FETCH_KINDS,
    IMBLEARN_STRATEGIES,
    MAX_EPOCHS,
    OPTIMIZERS,
    PROMOTE_RULES,
    READ_FORMATS,
    SCHEDULES,
    SCOPES,
    SOURCE_ROLES,
    SPLIT_NAMES,
    SYNTHETIC_LAYOUTS,
    TTA_MODES,
    TUNE_PRUNERS,
    TUNE_TYPES,
)
from ferpipe.labels import CLASSES

# A source's or model's name becomes a folder (data/raw/<name>, data/models/<name>) and a DVC
# stage name (train@<name>): letters, digits, _ and -, never a path
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
PositiveInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class Section(BaseModel):
    """A params section: unknown keys are errors that list the allowed ones."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key; allowed: {allowed}",
                    {"key": str(unknown[0]), "allowed": ", ".join(cls.model_fields)},
                )
        return data


# --- sources -------------------------------------------------------------------------------


class ArchiveLimits(Section):
    """Guards of an unpacked archive (see ferpipe.sources.archive)."""

    max_bytes: PositiveInt | None = None
    max_ratio: PositiveInt | None = None


class SyntheticFetch(Section):
    """A built-in generated source; each layout needs its own size keys."""

    kind: Literal["synthetic"]
    layout: Literal[SYNTHETIC_LAYOUTS]
    seed: int
    size: Annotated[int, Field(ge=8)] | None = None
    counts: dict[str, Count] | None = None  # fer2013_csv, rafdb, affectnet: rows per Usage value or file
    label_noise: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    blank: Count | None = None
    duplicates: Count | None = None
    test_copies: Count | None = None
    votes: bool | None = None  # fer2013_csv: also write FER+'s fer2013new.csv (10 annotators a row)
    sequences: PositiveInt | None = None  # ckplus
    subjects: PositiveInt | None = None
    count: PositiveInt | None = None  # image_folder

    @model_validator(mode="after")
    def _layout_sizes(self) -> SyntheticFetch:
        needed = {"fer2013_csv": "counts", "ckplus": "sequences", "image_folder": "count", "rafdb": "counts",
                  "affectnet": "counts"}[self.layout]  # fmt: skip
        if getattr(self, needed) is None:
            raise PydanticCustomError(
                "missing", "required key is missing (layout {layout} needs it)", {"layout": self.layout, "key": needed}
            )
        return self


class LocationFetch(ArchiveLimits):
    """One setting for where the data is: ``kaggle:owner/name``, an http(s) URL, or a local path."""

    kind: Literal["location"]
    where: Annotated[str, Field(min_length=1)]


class PathFetch(ArchiveLimits):
    kind: Literal["path"]
    path: str


class UrlFetch(ArchiveLimits):
    kind: Literal["url"]
    url: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    retries: Count | None = None
    timeout: Annotated[float, Field(gt=0.0)] | None = None


class KaggleFetch(ArchiveLimits):
    kind: Literal["kaggle"]
    dataset: Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]  # owner/name


class AugmentedCopyFetch(ArchiveLimits):
    kind: Literal["augmented_copy"]
    path: str
    copies: PositiveInt | None = None
    seed: int | None = None


Fetch = Annotated[
    SyntheticFetch | LocationFetch | PathFetch | UrlFetch | KaggleFetch | AugmentedCopyFetch,
    Field(discriminator="kind"),
]


class Read(Section):
    """How prepare parses a materialised source."""

    format: Literal[READ_FORMATS]
    role: Literal[SOURCE_ROLES] = "extra"
    on_error: Literal["skip", "fail"] = "skip"
    label_map: dict[str, str | None] | None = None  # raw label -> class name (null drops it)
    face_crop: bool | None = None
    votes: bool = False  # fer2013_csv: labels from FER+'s fer2013new.csv beside it (same rows, 10 annotators)
    votes_scheme: Literal[FERPLUS_SCHEMES] = "majority"
    seed: int = 0  # votes_scheme probability: the draw of each training label
    max_pixels: Annotated[int, Field(gt=0)] = DEFAULT_MAX_PIXELS  # a picture claiming more is skipped undecoded


class Source(Section):
    fetch: Fetch
    read: Read


# --- data stages ---------------------------------------------------------------------------


class Prepare(Section):
    usage_map: dict[str, Literal[SPLIT_NAMES]] = {}
    val_fraction: Fraction = 0.0
    test_fraction: Fraction = 0.0
    subsample: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    seed: int = 0
    blank_max_range: Annotated[int, Field(ge=0, le=255)] = 0


class Audit(Section):
    policy: Literal[AUDIT_POLICIES] = "drop_from_train"
    max_hash_distance: Annotated[int, Field(ge=0, le=63)] = 6
    max_rmse: Annotated[float, Field(ge=0.0)] = 10.0


# imbalanced-learn's named strategy, or images per class (class names as keys); tagged so a bad
# value gets the one error of its own kind rather than one per branch
Strategy = Annotated[
    Annotated[Literal[IMBLEARN_STRATEGIES], Tag("named")] | Annotated[dict[Literal[CLASSES], Count], Tag("per_class")],
    Discriminator(lambda value: "per_class" if isinstance(value, dict) else "named"),
]
UNION_TAGS = ("named", "per_class")


class Balance(Section):
    method: Literal[BALANCE_METHODS] = "none"
    scope: Literal[SCOPES] = "after_split"
    strategy: Strategy = "auto"
    k_neighbors: PositiveInt = 5
    seed: int = 0


# --- training ------------------------------------------------------------------------------


class Schedule(Section):
    name: Literal[SCHEDULES] = "none"
    milestones: list[PositiveInt] | None = None  # step
    gamma: Annotated[float, Field(gt=0.0)] | None = None
    rate: Annotated[float, Field(gt=0.0)] | None = None  # exponential
    every_steps: PositiveInt | None = None
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # plateau
    patience: Count | None = None


class Augment(Section):
    flip: bool | None = None
    max_rotation_deg: Annotated[float, Field(ge=0.0, le=180.0)] | None = None
    max_shift: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    scale_range: Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=2, max_length=2)] | None = None
    erasing: Annotated[float, Field(ge=0.0, le=1.0)] | None = None  # chance of one random box erased per image

    @model_validator(mode="after")
    def _ordered(self) -> Augment:
        if self.scale_range and self.scale_range[0] > self.scale_range[1]:
            raise PydanticCustomError("range", "scale_range must be [low, high] with low <= high")
        return self


class Training(Section):
    """Training settings; under ``train`` the shared defaults, under a model its overrides."""

    epochs: PositiveInt | None = None
    epochs_scale: Annotated[float, Field(gt=0.0)] | None = None
    lr: Annotated[float, Field(gt=0.0)] | None = None
    weight_decay: Annotated[float, Field(ge=0.0)] | None = None
    batch_size: PositiveInt | None = None
    optimizer: Literal[OPTIMIZERS] | None = None
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    nesterov: bool | None = None
    schedule: Schedule | None = None
    patience: PositiveInt | None = None
    seed: int | None = None
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    mixup: Annotated[float, Field(ge=0.0)] | None = None
    cutmix: Annotated[float, Field(ge=0.0)] | None = None
    ema: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None  # weight EMA decay per step; 0 off
    class_weights: Literal["none", "balanced"] | None = None
    amp: Literal["bf16", "fp16", "none"] | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    augment: Augment | None = None


class Model(Training):
    arch: str
    args: dict[str, Any] = {}
    balance: Balance | None = None  # this model's own balancing of the training split


# --- tuning (ferpipe tune) -----------------------------------------------------------------


class Dimension(Section):
    """One searched param: a range (``low``..``high``, ``log`` scale or a ``step``) or a list of ``choices``."""

    type: Literal[TUNE_TYPES] = "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: Annotated[float, Field(gt=0.0)] | None = None
    choices: Annotated[list[float | int | bool | str], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Dimension:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise PydanticCustomError("member", "give either choices or a range (low, high), not both", {})
            return self
        if self.low is None or self.high is None:
            raise PydanticCustomError("member", "a range needs low and high (or give choices)", {})
        if not self.low < self.high:
            raise PydanticCustomError(
                "member", "low {low} is not below high {high}", {"low": self.low, "high": self.high}
            )
        if self.log and self.low <= 0:
            raise PydanticCustomError("member", "a log-scale range needs low > 0, got {low}", {"low": self.low})
        if self.log and self.step is not None:
            raise PydanticCustomError("member", "a log-scale range takes no step (Optuna samples it continuously)", {})
        if self.type == "int" and any(v is not None and v != int(v) for v in (self.low, self.high, self.step)):
            raise PydanticCustomError("member", "an int range needs whole low, high and step", {})
        return self


class Tune(Section):
    """``ferpipe tune``'s study: the searched params (dotted keys of this file) and how trials stop early."""

    space: Annotated[dict[str, Dimension], Field(min_length=1)]
    pruner: Literal[TUNE_PRUNERS] = "median"
    warmup_epochs: Count = 2  # epochs every trial runs before the pruner may stop it
    startup_trials: Count = 4  # trials sampled at random (and never pruned against) before TPE and pruning start
    seed: int = 0  # the sampler's seed in each worker (offset by the worker's own number so workers differ)
    heartbeat_s: PositiveInt = 30  # a trial silent for 2x this is a dead worker's: failed and retried by another


# --- the file ------------------------------------------------------------------------------


class Mlflow(Section):
    experiment: Annotated[str, Field(min_length=1)]
    registered_model: Annotated[str, Field(min_length=1)] = "ferpipe"
    # @champion moves on any validation gain, or only on one beyond noise (paired on the same faces)
    promote_on: Literal[PROMOTE_RULES] = "any_gain"


class Evaluate(Section):
    batch_size: PositiveInt = DEFAULT_EVALUATE_BATCH_SIZE
    tta: Literal[TTA_MODES] = DEFAULT_TTA  # test-time views of every inference path (ferpipe.models.tta)


class Ensemble(Section):
    members: Annotated[list[str], Field(min_length=1)]


class Student(Section):
    """One distilled student: ``distill@<name>`` trains it by ``models.<recipe>``'s settings on the labels
    and the ensemble's probabilities of the training images (ferpipe.stages.distill)."""

    recipe: Name  # a model under models: its settings, and the same recipe trained alone to compare with
    teacher: Literal[DISTILL_TEACHERS] = "weighted"
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5  # weight of the teacher's term; the rest on the labels
    temperature: Annotated[float, Field(gt=0.0)] = 2.0


class Params(Section):
    mlflow: Mlflow
    sources: Annotated[dict[Name, Source], Field(min_length=1)]
    prepare: Prepare = Prepare()
    audit: Audit = Audit()
    balance: Balance = Balance()
    launch: Annotated[str, Field(min_length=1)] = "python"
    train: Training = Training()
    models: Annotated[dict[Name, Model], Field(min_length=1)]
    evaluate: Evaluate = Evaluate()
    ensemble: Ensemble
    distill: dict[Name, Student] = {}
    tune: Tune | None = None

    def document(self) -> dict[str, Any]:
        """The params as written, without the defaults filled in: what the pipeline's MLflow run logs
        and what a recipe or a study copies and changes."""
        return self.model_dump(exclude_unset=True)

    @model_validator(mode="after")
    def _members_are_models(self) -> Params:
        members = self.ensemble.members
        twice = sorted({m for m in members if members.count(m) > 1})
        if twice:
            raise PydanticCustomError(
                "member", "'{member}' is listed twice", {"member": twice[0], "at": "ensemble.members"}
            )
        missing = [m for m in members if m not in self.models]
        if missing:
            raise PydanticCustomError(
                "member",
                "'{member}' is not a model under models (have: {have})",
                {"member": missing[0], "have": ", ".join(self.models), "at": "ensemble.members"},
            )
        for name, model in self.models.items():
            self._check_epochs(name, model)
        for name, student in self.distill.items():
            self._check_student(name, student)
        for key in self.tune.space if self.tune else ():
            self._check_tuned_key(key)
        return self

    def _check_tuned_key(self, key: str) -> None:
        """A searched key is a training setting of ``train`` or of a model, or one of a model's ``args``
        (``ferpipe tune`` checks the model is the one it tunes, and the args against its builder)."""
        at = f"tune.space.{key}"
        head, _, rest = key.partition(".")
        if head == "models":  # which model: checked when a study starts (a preset may swap the models)
            rest = rest.partition(".")[2]
            if rest.startswith("args.") and rest.count(".") == 1:
                return  # checked against the model's builder when the study starts (the zoo is slow to import)
        elif head != "train":
            raise PydanticCustomError(
                "member", "searches train.<setting> or models.<model>.<setting>, got '{key}'", {"key": key, "at": at}
            )
        section: type[BaseModel] = Training
        parts = rest.split(".")
        for i, part in enumerate(parts):
            field = section.model_fields.get(part) if part != "balance" else None
            nested = _section_of(field.annotation) if field else None
            if field is None or (nested is not None and i == len(parts) - 1):
                group = f"{part}." if field else ""
                names = nested.model_fields if field and nested else [n for n in section.model_fields if n != "balance"]
                extra = ["args.<arg>"] if section is Training and head == "models" and not group else []
                raise PydanticCustomError(
                    "member",
                    "'{part}' is not a setting to search; one of {allowed}",
                    {"part": part or "(nothing)", "allowed": ", ".join([group + n for n in names] + extra), "at": at},
                )
            if nested is None and i < len(parts) - 1:
                raise PydanticCustomError("member", "'{part}' is one setting, not a group", {"part": part, "at": at})
            section = nested or section

    def _check_epochs(self, name: str, model: Model) -> None:
        """What training computes from two valid numbers must be valid too: epochs x epochs_scale."""
        epochs = model.epochs or self.train.epochs or DEFAULT_EPOCHS
        scale = model.epochs_scale or self.train.epochs_scale or 1.0
        if not epochs * scale <= MAX_EPOCHS:  # also catches an overflow to infinity
            where = f"models.{name}.epochs_scale" if model.epochs_scale else "train.epochs_scale"
            raise PydanticCustomError(
                "member",
                "{epochs} epochs x epochs_scale {scale} comes to {total} epochs for models.{name}; at most {most}",
                {
                    "epochs": epochs,
                    "scale": scale,
                    "total": f"{epochs * scale:g}",
                    "name": name,
                    "most": MAX_EPOCHS,
                    "at": where,
                },
            )

    def _check_student(self, name: str, student: Student) -> None:
        """A student needs a recipe among the models, a name of its own, and plain cross-entropy."""
        at = f"distill.{name}"
        if name in self.models:
            raise PydanticCustomError("member", "'{name}' is a model's name already", {"name": name, "at": at})
        if student.recipe not in self.models:
            raise PydanticCustomError(
                "member",
                "'{recipe}' is not a model under models (have: {have})",
                {"recipe": student.recipe, "have": ", ".join(self.models), "at": f"{at}.recipe"},
            )
        recipe = self.models[student.recipe]
        for key in ("mixup", "cutmix"):
            if getattr(recipe, key) or (getattr(recipe, key) is None and getattr(self.train, key)):
                raise PydanticCustomError(
                    "member",
                    "its recipe '{recipe}' uses {key}: a mixed image has no teacher probabilities",
                    {"recipe": student.recipe, "key": key, "at": at},
                )


def _section_of(annotation: Any) -> type[BaseModel] | None:
    """The params section a field holds (``Augment | None`` -> ``Augment``), or None for a plain value."""
    kinds = getattr(annotation, "__args__", (annotation,))
    return next((t for t in kinds if isinstance(t, type) and issubclass(t, BaseModel)), None)


class ParamsError(ValueError):
    """Params that do not fit the schema; one line per problem, each naming its key path."""


def parse_params(document: dict[str, Any], source: Path | str = "params.yaml") -> Params:
    """A params ``document`` (the file as read) as the typed sections the stages hand down;
    ParamsError lists every problem."""
    try:
        return Params.model_validate(document)
    except ValidationError as exc:
        lines = [_clip(_describe(error)) for error in exc.errors(include_url=False)]
        raise ParamsError("\n".join(f"{source}: {line}" for line in dict.fromkeys(lines))) from None


def validate_params(document: dict[str, Any], source: Path | str = "params.yaml") -> None:
    """Raise ParamsError listing every problem in a params ``document``; return quietly when it fits."""
    parse_params(document, source)


def _describe(error: Any) -> str:
    """``key.path: what is wrong (got value)`` for one pydantic error."""
    loc = _key_path(error["loc"])
    context = error.get("ctx") or {}
    if "key" in context:
        loc.append(context["key"])
    if "at" in context:
        loc = [context["at"]]
    path = ".".join(loc) or "(top level)"
    if error["type"] == "missing":
        return f"{path}: {error['msg'] if error['msg'] != 'Field required' else 'required key is missing'}"
    if error["type"] in ("unknown_key", "member"):
        return f"{path}: {error['msg']}"
    if error["type"] == "model_type":
        return f"{path}: should be a mapping of keys, got {_short(error['input'])}"
    if error["type"] == "union_tag_not_found":
        return f"{path}.kind: required key is missing; one of {', '.join(FETCH_KINDS)}"
    if error["type"] == "union_tag_invalid":
        return f"{path}.kind: must be one of {', '.join(FETCH_KINDS)}, got {_short(context['tag'])}"
    return f"{path}: {error['msg'].rstrip('.')}, got {_short(error['input'])}"


def _clip(line: str, most: int = 400) -> str:
    """One problem's line, never longer than a screen's few lines (a 50,000-character key, say)."""
    return line if len(line) <= most else f"{line[:most]}... ({len(line):,} characters)"


def _short(value: Any, most: int = 80) -> str:
    """A value as it was given, cut to ``most`` characters (a 10,000-element list is one short line)."""
    text = repr(value)
    if len(text) <= most:
        return text
    size = f", {len(value):,} items" if isinstance(value, list | dict | tuple | str) else ""
    return f"{text[:most]}... ({len(text):,} characters{size})"


def _key_path(loc: tuple[Any, ...]) -> list[str]:
    """The params keys of a pydantic location, without the tagged-union branches it adds (``synthetic``
    after ``fetch``, ``per_class``) and with a bad dict key in place of its ``[key]`` marker."""
    parts = [str(part) for part in loc]
    keys = [
        p for i, p in enumerate(parts) if not (p in UNION_TAGS or (i and parts[i - 1] == "fetch" and p in FETCH_KINDS))
    ]
    return [p for p in keys if p != "[key]"]
