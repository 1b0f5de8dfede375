"""What shapes one training run, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ferpipe.choices import DEFAULT_EPOCHS
from ferpipe.train.augment import AugmentConfig
from ferpipe.train.optim import scaled_epochs


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
    def from_params(cls, defaults: dict[str, Any], model: dict[str, Any]) -> TrainConfig:
        """Merge shared defaults with one model's overrides; a misspelt key is an error, not ignored."""
        merged = {**defaults, **model}
        names = {f.name for f in fields(cls)} - {"augment"}
        unknown = sorted(set(merged) - names - {"augment", "arch", "args"})
        if unknown:
            raise ValueError(f"params: unknown training keys {unknown}; known: {sorted(names | {'augment'})}")
        values = {k: merged[k] for k in names if k in merged}
        augment = {**defaults.get("augment", {}), **model.get("augment", {})}
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
