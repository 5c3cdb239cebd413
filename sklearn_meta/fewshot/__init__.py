"""Few-shot meta-learning: estimators that learn from episodes."""

from ._protonet import ProtoNetClassifier

__all__ = ["ProtoNetClassifier"]
