"""Transfer learning: fine-tuning and domain adaptation."""

from ._domain import DomainAdaptedClassifier
from ._finetune import FineTuneClassifier

__all__ = ["DomainAdaptedClassifier", "FineTuneClassifier"]
