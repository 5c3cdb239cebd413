"""``precision`` on the six estimators: bf16 autocast trains, predicts, pickles, resumes."""

import pickle

import numpy as np
import pytest
import torch
from contract_cases import BLOCK
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Checkpoint, LoadInitState


def test_bf16_fit_predict_pickle_clone_partial_fit(case):
    short = {"max_iter": 20, "max_epochs": 2}
    ref = case.fit(case.make(**short))
    est = case.fit(case.make(precision="bf16", **short))
    out, ref_out = case.out(est), case.out(ref)
    assert np.isfinite(out).all()
    # autocast ran: bfloat16 rounding changed the numbers, not the model
    assert not np.array_equal(out, ref_out)
    scale = 1.0 if case.classifier else float(np.abs(ref_out).max())
    assert np.abs(out - ref_out).mean() < 0.1 * scale
    # the fitted weights stay float32 (master weights)
    assert all(p.dtype == torch.float32 for p in est.module_.parameters())
    again = pickle.loads(pickle.dumps(est))
    assert again.precision == "bf16"
    assert_array_equal(case.out(again), out)
    assert clone(est).precision == "bf16"
    case.partial_fit(est)
    assert np.isfinite(case.out(est)).all()


def test_bf16_resumed_fit_equals_uninterrupted_fit(case, tmp_path):
    long = {"max_iter": 2 * BLOCK, "max_epochs": 2, "precision": "bf16"}
    short = {"max_iter": BLOCK, "max_epochs": 1, "precision": "bf16"}
    if case.name == "domain_adapted":
        long.update(method="mmd", lr_schedule="constant")
        short.update(method="mmd", lr_schedule="constant")
    reference = case.fit(case.make(**long))
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    case.fit(case.make(callbacks=[cp], **short))
    resumed = case.fit(case.make(callbacks=[LoadInitState(cp)], **long))
    for name, value in reference.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[name], value), name
    assert_array_equal(case.out(resumed), case.out(reference))


def test_fp16_on_the_cpu_is_refused_at_fit_naming_bf16(case):
    est = case.make(precision="fp16")
    with pytest.raises(ValueError, match="bf16"):
        case.fit(est)
    assert not hasattr(est, "module_")


def test_unknown_precision_is_refused(case):
    with pytest.raises(InvalidParameterError, match="precision"):
        case.fit(case.make(precision="float16"))


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_tensors_made_at_inference_never_reach_training(case, precision):
    # predict, transform and adapt run under torch.inference_mode (the MAML
    # family builds its head with gradients enabled there): whatever they
    # cache must not be an inference tensor that a later partial_fit trains on
    est = case.fit(case.make(max_iter=10, max_epochs=1, precision=precision))
    case.out(est)
    est.transform(case.X[:5])
    if case.few_shot:
        *_, X_new, y_new = case.base_novel()
        adapted = est.adapt(X_new, y_new)
        case.out(adapted)
        for value in vars(adapted).values():
            if isinstance(value, torch.Tensor):
                assert not value.is_inference()
    case.partial_fit(est)
    for p in est.module_.parameters():
        assert not p.is_inference()
    assert np.isfinite(case.out(est)).all()
    for group in est.optimizer_.param_groups:
        assert group.get("foreach") is True  # the CPU's multi-tensor kernels


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda_trains_with_fused_optimisers(case, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    est = case.fit(case.make(max_iter=20, max_epochs=2, precision=precision, device="cuda"))
    assert np.isfinite(case.out(est)).all()
    assert all(p.dtype == torch.float32 for p in est.module_.parameters())
    assert all(group.get("fused") for group in est.optimizer_.param_groups)
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(case.out(again), case.out(est))
