"""Transfer learning: fine-tuning and domain adaptation."""

from ._finetune import FineTuneClassifier

__all__ = ["FineTuneClassifier"]
