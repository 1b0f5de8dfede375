"""Knowledge distillation's training signal: a teacher's probabilities for every training image,
and the loss that mixes them with the labels (Hinton, Vinyals and Dean 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Teacher:
    """What a student learns from besides the labels.

    ``probs`` has one row per training image, computed once before training (offline
    distillation: the teacher is an ensemble, too slow to run at every step on a CPU); the
    student still sees each image augmented, whose label the teacher's row stands for.
    """

    probs: np.ndarray  # (n_train, classes), float32, rows in the training split's order
    alpha: float  # weight of the teacher's term; 1 - alpha stays on the labels
    temperature: float

    def __post_init__(self) -> None:
        if self.probs.ndim != 2 or not np.all(np.isfinite(self.probs)):
            raise ValueError(f"teacher probabilities must be a finite (images, classes) array, got {self.probs.shape}")


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) with both softened by ``temperature``, times temperature squared
    so that its gradients keep their size whatever the temperature."""
    log_student = F.log_softmax(logits.float() / temperature, dim=1)
    soft = F.softmax(torch.log(teacher_probs.float().clamp_min(1e-8)) / temperature, dim=1)
    return F.kl_div(log_student, soft, reduction="batchmean") * temperature**2
