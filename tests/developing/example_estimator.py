"""A new few-shot estimator in one file: nearest centroid on a margin-trained embedding.

Not part of sklearn_meta's API: docs/developing.md walks through it, and
tests/developing/ checks that it is a full scikit-learn estimator.
"""

from collections import OrderedDict
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_meta._episodes import class_means, episode_logits, prototype_logits
from sklearn_meta._sklearn import HasMethods, Interval
from sklearn_meta.backbones import build_backbone
from sklearn_meta.fewshot._base import BaseEpisodicClassifier


class MarginCentroidClassifier(BaseEpisodicClassifier):
    """Nearest class centroid in an embedding trained with a multi-class hinge loss.

    In every training episode a query must be nearer (in squared Euclidean
    distance) to the centroid of its class's support rows than to any other
    centroid, by ``margin``; ProtoNet takes the cross-entropy instead.
    """

    _parameter_constraints: dict = {
        **BaseEpisodicClassifier._parameter_constraints,
        "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"])],
        "weights": [str, None],
        "margin": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self, backbone="mlp", *, weights=None, margin=1.0, n_way=5, n_shot=5, n_query=5,
        max_iter="auto", meta_batch_size=1, lr=1e-3, batch_size=256, early_stopping="auto",
        validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, callbacks=None,
        input_shape=None, device="auto", random_state=None, verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.margin = margin
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.lr = lr
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.input_shape = input_shape
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # 1. the network; the backbone is named `features` (the base trains all of
    #    it with Adam at `lr` and embeds with it for `transform`)
    def _build_module(self, input_shape, *, weights):
        features, _, pretrained = build_backbone(self.backbone, input_shape, weights=weights)
        return nn.Sequential(OrderedDict(features=features)), pretrained

    # 2. the loss of a batch of training episodes: only their rows are embedded
    def _episode_loss(self, X_t, s_idx, s_y, q_idx, q_y, n_way):
        rows = torch.cat([s_idx, q_idx], dim=1)
        z = self.module_(X_t[rows.flatten()]).view(*rows.shape, -1)
        n_s = s_idx.shape[1]
        logits = episode_logits(z[:, :n_s], s_y, z[:, n_s:], n_way)
        loss = F.multi_margin_loss(logits.flatten(0, 1), q_y.flatten(), margin=self.margin)
        return loss, logits

    # 3. the logits of episodes in evaluation: every row of X_t is embedded once
    def _episode_logits(self, X_t, s_idx, s_y, q_idx, n_way):
        z = self._embed_rows(X_t)
        return episode_logits(z[s_idx], s_y, z[q_idx], n_way)

    # 4. what predicts among classes_: a centroid per class present in y_t
    def _set_support(self, X_t, y_t, present, first=True):
        new = class_means(self._embed_rows(X_t), y_t, len(self.classes_)).cpu().numpy()
        # a class never seen gets NaN (never predicted); the others keep theirs
        self.centroids_ = np.full_like(new, np.nan) if first else self.centroids_.copy()
        self.centroids_[present] = new[present]

    # 5. the logits of a device batch of new rows, and the embedding's width
    def _logits_fn(self):
        centroids = torch.as_tensor(self.centroids_, device=self.device_)

        def logits(xb):
            scores = prototype_logits(self._embed(xb).double(), centroids)
            return scores.nan_to_num(nan=-torch.inf)

        return logits

    @property
    def _n_features_out(self):
        return self.centroids_.shape[1]

    # a helper of its own: embed a device tensor in eval mode, in chunks
    def _embed_rows(self, X_t):
        self.module_.eval()
        with torch.inference_mode():
            return torch.cat([self.module_(xb) for xb in X_t.split(self.batch_size)]).double()
