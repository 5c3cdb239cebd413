"""Few-shot meta-learning: estimators that learn from episodes."""

from ._maml import MAMLClassifier
from ._maml_regressor import MAMLRegressor
from ._protonet import ProtoNetClassifier
from ._reptile import ReptileClassifier

__all__ = ["MAMLClassifier", "MAMLRegressor", "ProtoNetClassifier", "ReptileClassifier"]
