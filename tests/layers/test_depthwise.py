"""DepthwiseConv2d: nn.Conv2d's forward bit for bit, gradients equal to autograd's through
nn.Conv2d (in float64 to rounding, in float32 to a few 1e-6), the plain path wherever the
fast backward does not apply, and the blocks that use it."""
import pytest
import torch
import torch.nn as nn

from mmdicm.layers import ConvFormerBlock, ConvModBlock, DepthwiseConv2d, GnConv


def _pair(channels, kernel, bias=True, **kwargs):
    ref = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels,
                    bias=bias, **kwargs)
    new = DepthwiseConv2d(channels, channels, kernel, padding=kernel // 2, groups=channels,
                          bias=bias, **kwargs)
    new.load_state_dict(ref.state_dict())
    return ref, new


def _grads(module, x, grad):
    x = x.detach().clone().requires_grad_(x.requires_grad)
    y = module(x)
    params = [p for p in module.parameters() if p.requires_grad]
    wrt = ([x] if x.requires_grad else []) + params
    return y, torch.autograd.grad(y, wrt, grad)


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('kernel, bias', [(7, True), (3, False), (1, True)])
def test_same_forward_and_gradients_as_nn_conv2d(channels_last, kernel, bias):
    torch.manual_seed(0)
    ref, new = _pair(12, kernel, bias=bias)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        ref, new = ref.to(dtype), new.to(dtype)
        x = torch.randn(3, 12, 9, 11, dtype=dtype, requires_grad=True)
        grad = torch.randn(3, 12, 9, 11, dtype=dtype)
        if channels_last:
            x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
            grad = grad.contiguous(memory_format=torch.channels_last)
        y_ref, g_ref = _grads(ref, x, grad)
        y_new, g_new = _grads(new, x, grad)
        assert torch.equal(y_ref, y_new)  # the very same F.conv2d
        assert len(g_ref) == len(g_new) == 2 + bias
        for a, b in zip(g_ref, g_new):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert (a - b).abs().max() <= tol * a.abs().max(), (dtype, kernel)


def test_fast_backward_is_taken_and_gradcheck_passes():
    torch.manual_seed(0)
    conv = DepthwiseConv2d(4, 4, 5, padding=2, groups=4).double()
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    assert type(y.grad_fn).__name__ == '_DepthwiseConv2dFunctionBackward'
    assert torch.autograd.gradcheck(conv, (x, ))
    # no double backward on the fast path: the gradient is not differentiable (an error at
    # the second backward, never a silently wrong second derivative)
    g, = torch.autograd.grad(conv(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match='does not require grad'):
        g.sum().backward()


def test_frozen_weights_still_give_an_input_gradient_and_only_that():
    ref, new = _pair(6, 3)
    for m in (ref, new):
        m.requires_grad_(False)
    x = torch.randn(1, 6, 8, 8, requires_grad=True)
    grad = torch.randn(1, 6, 8, 8)
    (a, ), (b, ) = _grads(ref, x, grad)[1], _grads(new, x, grad)[1]
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('kwargs', [dict(stride=2), dict(dilation=2),
                                    dict(padding_mode='reflect')])
def test_other_settings_are_plain_conv2d(kwargs):
    torch.manual_seed(0)
    padding = 2 if kwargs.get('dilation') == 2 else 1
    conv = DepthwiseConv2d(4, 4, 3, padding=padding, groups=4, **kwargs)
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    y = conv(x)
    assert type(y.grad_fn).__name__ == 'ConvolutionBackward0'
    assert torch.equal(y, nn.Conv2d.forward(conv, x))


def test_no_grad_and_eval_take_the_plain_path_with_the_same_values():
    conv = DepthwiseConv2d(4, 4, 3, padding=1, groups=4)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        y = conv(x)
    assert y.grad_fn is None and torch.equal(y, conv(x).detach())


def test_the_blocks_use_it_and_keep_their_parameter_names():
    block = ConvFormerBlock(8)
    assert type(block.token_mixer.dwconv) is DepthwiseConv2d
    assert 'token_mixer.dwconv.weight' in block.state_dict()
    assert type(GnConv(16, order=2).dwconv) is DepthwiseConv2d
    convmod = ConvModBlock(8)
    assert sum(isinstance(m, DepthwiseConv2d) for m in convmod.modules()) == 2
    # the same parameters and random init as the timm block it specialises
    from timm.models.metaformer import LayerNorm2dNoBias, MetaFormerBlock, SepConv, StarReLU
    torch.manual_seed(0)
    ours = ConvFormerBlock(8).state_dict()
    torch.manual_seed(0)
    timm_block = MetaFormerBlock(8, token_mixer=SepConv, mlp_act=StarReLU, mlp_bias=False,
                                 norm_layer=LayerNorm2dNoBias, use_nchw=True, kernel_size=7,
                                 padding=3, expansion_ratio=2)
    theirs = timm_block.state_dict()
    assert sorted(ours) == sorted(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
