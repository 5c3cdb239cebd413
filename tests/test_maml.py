"""MAMLClassifier and its variants: the sklearn contract, the few-shot contract,
and meta-gradients checked against references."""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn
from torch.func import functional_call

from sklearn_meta import MAMLClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone
from sklearn_meta.fewshot._inner import HEAD
from sklearn_meta.model_selection import (
    ClassDisjointKFold,
    evaluate_episodes,
    make_episodic_scorer,
)

TINY = dict(
    backbone=MLPBackbone(hidden=(16,)),
    n_way=2,
    n_shot=2,
    n_query=2,
    meta_batch_size=2,
    max_iter=20,
    lr=1e-2,
    device="cpu",
    random_state=0,
)


@parametrize_with_checks(
    [
        MAMLClassifier(**TINY),
        MAMLClassifier(**TINY, first_order=True, inner_params="head", head_init="zero"),
        MAMLClassifier(**TINY, learn_inner_lr=True, n_adapt_steps=3),
    ]
)
def test_sklearn_checks(estimator, check):
    check(estimator)
