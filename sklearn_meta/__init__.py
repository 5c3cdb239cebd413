"""Few-shot meta-learning and transfer learning as scikit-learn estimators."""

from .fewshot import (
    MAMLClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
)
from .transfer import DomainAdaptedClassifier, FineTuneClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "DomainAdaptedClassifier",
    "FineTuneClassifier",
    "MAMLClassifier",
    "MAMLRegressor",
    "ProtoNetClassifier",
    "ReptileClassifier",
    "__version__",
]
