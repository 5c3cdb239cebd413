"""Few-shot meta-learning: estimators that learn from episodes."""

from ._maml import MAMLClassifier
from ._protonet import ProtoNetClassifier

__all__ = ["MAMLClassifier", "ProtoNetClassifier"]
