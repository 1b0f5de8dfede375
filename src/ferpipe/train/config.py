"""What shapes one training run, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ferpipe.choices import DEFAULT_EPOCHS
from ferpipe.train.augment import AugmentConfig
from ferpipe.train.optim import scaled_epochs

if TYPE_CHECKING:  # the schema's types only: training runs without pydantic on a GPU box
    from ferpipe.schema import Training


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes one training run; built from the ``train`` defaults and a model's params."""

    epochs: int = DEFAULT_EPOCHS
    epochs_scale: float = 1.0  # multiplies epochs and step milestones: recipes stay readable, CI stays fast
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    batch_size: int = 64
    optimizer: str = "adamw"
    momentum: float = 0.9
    nesterov: bool = True
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "cosine"})
    patience: int = 5
    seed: int = 0
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Beta(alpha, alpha) mixup; 0 turns it off
    cutmix: float = 0.0  # Beta(alpha, alpha) cutmix; 0 turns it off
    ema: float = 0.0  # decay per step of an exponential moving average of the weights (0.999...); 0 turns it off
    class_weights: str = "none"  # "none" or "balanced" (inverse class frequency)
    amp: str = "bf16"  # autocast: "bf16", "fp16" or "none" on CUDA; bf16 also on a CPU that has it (autocast_dtype)
    channels_last: bool = True  # on CUDA, and on CPU for models it does not crash (see channels_last_on)
    compile: bool = False  # torch.compile on CUDA
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def of(cls, defaults: Training, model: Training | None = None) -> TrainConfig:
        """A model's settings over the shared ``train`` defaults over this class's own: a setting the
        params leave unset (None in the schema) falls through to the next. A model's ``schedule``
        replaces the default one whole; ``augment`` is merged setting by setting."""
        layers = [defaults, *([model] if model is not None else [])]
        values: dict[str, Any] = {}
        for name in (f.name for f in fields(cls) if f.name != "augment"):
            for layer in layers:
                if getattr(layer, name) is not None:
                    values[name] = getattr(layer, name)
        if "schedule" in values:  # as written: the scheduler reads the keys its kind needs
            values["schedule"] = values["schedule"].model_dump(exclude_unset=True)
        augment: dict[str, Any] = {}
        for layer in layers:
            augment.update(layer.augment.model_dump(exclude_unset=True) if layer.augment else {})
        if "scale_range" in augment:
            augment["scale_range"] = tuple(augment["scale_range"])
        return cls(**values, augment=AugmentConfig(**augment))

    @property
    def total_epochs(self) -> int:
        return scaled_epochs(self.epochs, self.epochs_scale)

    def epochs_note(self) -> str:
        """How many epochs run, and whether ``epochs_scale`` changed the recipe's count."""
        if self.total_epochs == self.epochs:
            return f"{self.epochs} epochs"
        return f"{self.total_epochs} of the recipe's {self.epochs} epochs (epochs_scale {self.epochs_scale:g})"


@dataclass
class FitResult:
    """Per-epoch history and where the best validation accuracy was reached."""

    history: list[dict[str, float]]
    best_epoch: int
    best_val_accuracy: float
