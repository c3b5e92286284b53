"""The temporal convolutional model: receptive field, sliced residuals, strided variant, causal mode."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from blender_vp3d.core.training.model import ModelConfig, TemporalModel, TemporalModelOptimized, trajectory_config  # noqa: E402


@pytest.mark.parametrize("widths,causal", [([3, 3, 3], False), ([3, 3, 3, 3], False), ([5, 3], False), ([3, 3, 3], True)])
def test_optimized_weights_load_into_full_model_with_identical_output(widths, causal):
    torch.manual_seed(0)
    config = ModelConfig(filter_widths=widths, channels=32, causal=causal)
    fast, full = TemporalModelOptimized(config), TemporalModel(config)
    for bn in [fast.expand_bn, *fast.layers_bn]:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    full.load_state_dict(fast.state_dict())
    fast.eval(), full.eval()
    rf = config.receptive_field()
    x = torch.randn(4, rf + 6, 17, 3)
    with torch.no_grad():
        sequence = full(x)
        assert sequence.shape == (4, 7, 17, 3)
        for start in (0, 3, 6):
            single = fast(x[:, start : start + rf])
            torch.testing.assert_close(single[:, 0], sequence[:, start], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("widths,causal", [([3, 3, 3, 3], False), ([5, 3], False), ([3, 3, 3], True)])
def test_strided_matmul_form_trains_like_the_conv1d_stack(widths, causal):
    """Training mode (batch statistics) and gradients too, not only inference."""
    torch.manual_seed(1)
    model = TemporalModelOptimized(ModelConfig(filter_widths=widths, channels=32, dropout=0.0, causal=causal)).train()
    x = torch.randn(8, model.receptive_field(), 17, 3)
    outputs, grads = [], []
    for forward in (model.forward, model.forward_conv):
        model.zero_grad()
        y = forward(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        outputs.append(y.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="exactly"):
        model(torch.randn(2, model.receptive_field() + 1, 17, 3))


def test_output_depends_only_on_the_receptive_field():
    config = ModelConfig(filter_widths=[3, 3, 3], channels=16)
    model = TemporalModel(config).eval()
    x = torch.randn(1, 40, 17, 3)
    y = x.clone()
    y[:, 30:] += 5.0  # frames beyond output 0's field (frames 0..26)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:, 0], model(y)[:, 0])
        assert not torch.allclose(model(x)[:, 13], model(y)[:, 13])


def test_causal_model_never_looks_ahead():
    config = ModelConfig(filter_widths=[3, 3], channels=16, causal=True)
    model = TemporalModel(config).eval()
    x = torch.randn(1, 20, 17, 3)
    y = x.clone()
    y[:, 15:] += 3.0
    with torch.no_grad():
        # output k covers input frames k..k+8 and belongs to frame k+8: outputs up to frame 14 are unchanged
        torch.testing.assert_close(model(x)[:, : 15 - 8], model(y)[:, : 15 - 8])


def test_config_is_validated_and_trajectory_has_one_joint():
    with pytest.raises(ValueError, match="odd"):
        TemporalModel(ModelConfig(filter_widths=[3, 4]))
    assert trajectory_config(ModelConfig()).num_joints_out == 1
    assert ModelConfig(filter_widths=[3, 3, 3, 3, 3]).receptive_field() == 243
    with pytest.raises(ValueError, match="expected input"):
        TemporalModel(ModelConfig(filter_widths=[3])).forward(torch.zeros(1, 3, 16, 3))
