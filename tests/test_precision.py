"""The precision helpers: autocast contexts, float32 islands, the fp16 check."""

import pytest
import torch

from sklearn_meta._precision import autocast, check_precision, float32_math


@float32_math
def _gram(z, scale=1.0):
    return scale * (z @ z.T)


def test_float32_math_runs_in_float32_inside_autocast_and_unchanged_outside():
    z = torch.randn(4, 8)
    plain = _gram(z)
    assert plain.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (z @ z.T).dtype == torch.bfloat16
        inside = _gram(z.bfloat16(), scale=torch.tensor(2.0).bfloat16())
        # autocast is on again after the call
        assert (z @ z.T).dtype == torch.bfloat16
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, 2 * _gram(z.bfloat16().float()))
    # float64 passes through as it is
    assert _gram(z.double()).dtype == torch.float64


def test_autocast_is_a_no_op_at_float32():
    with autocast("float32", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("bf16", torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_fp16_off_cuda_names_bf16():
    with pytest.raises(ValueError, match="bf16"):
        check_precision("fp16", torch.device("cpu"))
    check_precision("bf16", torch.device("cpu"))
    check_precision("float32", torch.device("cpu"))
