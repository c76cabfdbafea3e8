"""Tests of mmdicm.layers: shapes, gradients, behaviour and argument checks of every block."""
import doctest

import pytest
import torch
import torch.nn as nn

import mmdicm.layers as L
from mmdicm.layers import (RE_BLOCKS, ConvFormerBlock, ConvModBlock, GlobalLocalFilter, GnConv,
                           HorBlock, ViTBlock, build_re_block)

# Every block configuration under test -> (factory, channels), small enough for a 2-core CPU.
BLOCKS = {
    'gl_filter': (lambda: GlobalLocalFilter(16, h=5, w=3), 16),
    'gnconv': (lambda: GnConv(16, order=3, kernel_size=5), 16),
    'gnconv_order1': (lambda: GnConv(8, order=1), 8),
    'gnconv_gl': (lambda: GnConv(32, order=4, global_local=True, gl_size=(6, 4)), 32),
    'horblock': (lambda: HorBlock(16, order=2), 16),
    'horblock_gl': (lambda: HorBlock(32, order=3, global_local=True), 32),
    'convformer': (lambda: ConvFormerBlock(16), 16),
    'convformer_scaled': (lambda: ConvFormerBlock(
        16, mlp_ratio=2.0, layer_scale_init_value=1e-6, res_scale_init_value=1.0), 16),
    'convmod': (lambda: ConvModBlock(16), 16),
    'convmod_k3': (lambda: ConvModBlock(16, kernel_size=3, mlp_ratio=2.0), 16),
    'vit': (lambda: ViTBlock(24, num_heads=6), 24),
}
SIZES = [(1, 1), (7, 9), (16, 16), (33, 17)]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize('name', sorted(BLOCKS))
@pytest.mark.parametrize('size', SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
def test_shape_and_batch_independence(name, size):
    make, c = BLOCKS[name]
    block = make().eval()
    x = torch.randn(2, c, *size)
    with torch.no_grad():
        out = block(x)
        single = block(x[1:])
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    # Samples do not mix: batch 1 gives the same answer as the same sample in batch 2.
    torch.testing.assert_close(out[1:], single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', sorted(BLOCKS))
def test_gradient_reaches_every_parameter(name):
    make, c = BLOCKS[name]
    block = make().train()
    x = torch.randn(2, c, 16, 16, requires_grad=True)
    (block(x) * torch.randn(2, c, 16, 16)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in block.named_parameters():
        assert p.grad is not None, f'{pname} got no gradient'
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f'{pname} got a zero gradient'


# --------------------------------------------------------------------------- gnConv / HorNet


def test_gnconv_widths():
    g = GnConv(64, order=4)
    assert g.dims == [8, 16, 32, 64]
    assert g.proj_in.out_channels == 128  # gate (8) + sum of dims (120)
    assert g.dwconv.in_channels == 120 and g.dwconv.kernel_size == (7, 7)
    assert [(pw.in_channels, pw.out_channels) for pw in g.pws] == [(8, 16), (16, 32), (32, 64)]
    assert isinstance(GnConv(64, order=4, global_local=True).dwconv, GlobalLocalFilter)


def test_gnconv_is_order_n_in_the_scaled_depthwise_output():
    """With bias-free ``pws``, an order-n gnConv (minus proj_out's bias) is a product of
    n scaled depthwise outputs: halving ``scale`` divides it by 2**n."""
    g = GnConv(16, order=3, scale=1.0).eval()
    for pw in g.pws:
        nn.init.zeros_(pw.bias)
    g_half = GnConv(16, order=3, scale=0.5).eval()
    g_half.load_state_dict(g.state_dict())
    x = torch.randn(1, 16, 5, 6)
    bias = g.proj_out.bias.detach().view(1, -1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(g_half(x) - bias, (g(x) - bias) / 8, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('size', [(1, 1), (7, 9), (12, 14), (16, 16), (33, 17)],
                         ids=lambda s: f'{s[0]}x{s[1]}')
def test_global_filter_all_pass_is_identity_at_any_size(size):
    """With an all-ones spectral weight the global half is the identity (rfft -> irfft),
    at the native size (12x14 -> spectrum 12x8) and, after interpolation, at any other."""
    f = GlobalLocalFilter(8, h=12, w=8).eval()
    with torch.no_grad():
        f.complex_weight.zero_()
        f.complex_weight[..., 0] = 1.0
    f.post_norm = nn.Identity()
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        out = f(x)
        normed = f.pre_norm(x)
    torch.testing.assert_close(out[:, 1::2], normed[:, 4:], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out[:, 0::2], f.dw(normed[:, :4]), rtol=1e-4, atol=1e-5)


def test_global_filter_weight_interpolated_only_when_size_differs():
    f = GlobalLocalFilter(8, h=14, w=8)
    native = f._spectral_weight((14, 8))
    torch.testing.assert_close(torch.view_as_real(native), f.complex_weight)
    resized = f._spectral_weight((5, 3))
    assert resized.shape == (4, 5, 3) and resized.is_complex()
    # align_corners=True keeps the corner coefficients
    w = torch.view_as_complex(f.complex_weight.detach())
    for i, j, k, m in [(0, 0, 0, 0), (-1, -1, -1, -1), (0, -1, 0, -1)]:
        torch.testing.assert_close(resized[:, i, j].detach(), w[:, k, m])
    # a 7x9 map has a 7x5 spectrum: the weight is resized and the map keeps its shape
    assert f(torch.randn(1, 8, 7, 9)).shape == (1, 8, 7, 9)


def test_global_filter_keeps_input_dtype():
    f = GlobalLocalFilter(8).to(torch.float64)
    assert f(torch.randn(1, 8, 6, 6, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize('make', [
    lambda ls: HorBlock(16, order=3, layer_scale_init_value=ls),
    lambda ls: ConvModBlock(16, layer_scale_init_value=ls),
    lambda ls: ConvFormerBlock(16, layer_scale_init_value=ls),
],
                         ids=['horblock', 'convmod', 'convformer'])
def test_tiny_layer_scale_is_near_identity_and_disabling_it_is_not(make):
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        near = make(1e-6).eval()(x)
        full = make(None).eval()(x)
    assert (near - x).abs().max() < 1e-4
    assert (full - x).abs().mean() > 1e-2


def test_horblock_layer_scale_zero_disables_it():
    assert HorBlock(16, layer_scale_init_value=0).gamma1 is None
    blk = HorBlock(16, layer_scale_init_value=0.5)
    assert torch.all(blk.gamma1 == 0.5) and torch.all(blk.gamma2 == 0.5)


# --------------------------------------------------------------------------- ConvFormer / ConvMod


def test_convformer_structure():
    blk = ConvFormerBlock(16, mlp_ratio=3.0, kernel_size=5, expansion_ratio=2)
    assert blk.token_mixer.pwconv1.out_channels == 32
    assert blk.token_mixer.dwconv.kernel_size == (5, 5)
    assert blk.token_mixer.dwconv.groups == 32
    assert blk.mlp.fc1.out_channels == 48
    assert type(blk.mlp.act).__name__ == 'StarReLU'
    assert blk.norm1.bias is None  # ConvFormer's layer norm has no bias
    assert ConvFormerBlock(16).mlp.fc1.out_channels == 64


def test_convformer_loads_timm_convformer_block_weights():
    from timm.models.metaformer import MetaFormer, SepConv
    net = MetaFormer(depths=(1, 1, 1, 1), dims=(16, 16, 16, 16), token_mixers=SepConv,
                     num_classes=0)
    ref = net.stages[0].blocks[0].eval()
    blk = ConvFormerBlock(16).eval()
    blk.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 16, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), ref(x))


def test_convmod_structure():
    blk = ConvModBlock(16, kernel_size=7, mlp_ratio=2.0)
    assert blk.attn.a[2].kernel_size == (7, 7) and blk.attn.a[2].groups == 16
    assert blk.mlp.fc1.out_channels == 32 and blk.mlp.pos.groups == 32
    assert ConvModBlock(16).attn.a[2].kernel_size == (11, 11)


# --------------------------------------------------------------------------- ViT


def test_vit_block_is_spatially_equivariant():
    """Without positional embedding the block commutes with transposing H and W: this
    fails if tokens are flattened and unflattened inconsistently."""
    blk = ViTBlock(24, num_heads=6).eval()
    x = torch.randn(2, 24, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(blk(x.transpose(2, 3)), blk(x).transpose(2, 3),
                                   rtol=1e-4, atol=1e-5)


def test_vit_block_matches_timm_block_on_tokens():
    blk = ViTBlock(24, num_heads=6).eval()
    x = torch.randn(2, 24, 4, 3)
    tokens = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        ref = blk.block(tokens).transpose(1, 2).reshape(2, 24, 4, 3)
        torch.testing.assert_close(blk(x), ref)
    assert blk.block.attn.num_heads == 6 and blk.block.attn.qkv.bias is not None


# --------------------------------------------------------------------------- builder


@pytest.mark.parametrize('block_type', sorted(RE_BLOCKS))
def test_build_re_block(block_type):
    blk = build_re_block(block_type, 16, kernel_size=5, mlp_ratio=2.0, drop_path=0.1)
    assert type(blk) is RE_BLOCKS[block_type]
    convs = [m for m in blk.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (5, 5)]
    assert convs, 'kernel_size was not passed on'
    assert blk(torch.randn(2, 16, 7, 9)).shape == (2, 16, 7, 9)


def test_re_blocks_registry():
    assert set(RE_BLOCKS) == {'convformer', 'convmod'}


def test_build_re_block_unknown_name():
    with pytest.raises(ValueError, match='block_type') as err:
        build_re_block('convnext', 16)
    assert 'convformer' in str(err.value) and 'convmod' in str(err.value)


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize('make, arg', [
    (lambda: GlobalLocalFilter(15), 'dim'),
    (lambda: GlobalLocalFilter(16, h=0), 'h'),
    (lambda: GlobalLocalFilter(16, w=0), 'w'),
    (lambda: GnConv(16, order=0), 'order'),
    (lambda: GnConv(16, order=2.0), 'order'),
    (lambda: GnConv(12, order=4), 'dim'),
    (lambda: GnConv(0), 'dim'),
    (lambda: GnConv(16, order=2, kernel_size=4), 'kernel_size'),
    (lambda: GnConv(8, order=4, global_local=True), 'global_local'),
    (lambda: GnConv(16, order=2, global_local=True, gl_size=(14, )), 'gl_size'),
    (lambda: HorBlock(16, order=6), 'dim'),
    (lambda: HorBlock(16, mlp_ratio=0), 'mlp_ratio'),
    (lambda: HorBlock(16, drop_path=1.0), 'drop_path'),
    (lambda: HorBlock(16, layer_scale_init_value=-1.0), 'layer_scale_init_value'),
    (lambda: ConvFormerBlock(0), 'dim'),
    (lambda: ConvFormerBlock(16, kernel_size=6), 'kernel_size'),
    (lambda: ConvFormerBlock(16, mlp_ratio=0.0), 'mlp_ratio'),
    (lambda: ConvFormerBlock(16, expansion_ratio=0), 'expansion_ratio'),
    (lambda: ConvFormerBlock(16, drop_path=-0.1), 'drop_path'),
    (lambda: ConvModBlock(16, kernel_size=0), 'kernel_size'),
    (lambda: ConvModBlock(16, kernel_size=8), 'kernel_size'),
    (lambda: ConvModBlock(16.0), 'dim'),
    (lambda: ConvModBlock(16, mlp_ratio=0.01), 'mlp_ratio'),
    (lambda: ConvModBlock(16, layer_scale_init_value=-1e-6), 'layer_scale_init_value'),
    (lambda: ViTBlock(20, num_heads=6), 'num_heads'),
    (lambda: ViTBlock(24, num_heads=0), 'num_heads'),
    (lambda: ViTBlock(24, num_heads=6, mlp_ratio=0), 'mlp_ratio'),
])
def test_bad_arguments_raise_value_error_naming_them(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# --------------------------------------------------------------------------- package


def test_all_is_complete_and_docstring_examples_run():
    for name in L.__all__:
        obj = getattr(L, name)
        assert obj.__doc__ or isinstance(obj, dict), name
    from mmdicm.layers import builder, convmod, gnconv, metaformer, vit
    for module in (gnconv, metaformer, convmod, vit, builder):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_layers_import_no_openmmlab_package():
    """layers/ is framework-free: its sources import only torch, timm and the stdlib."""
    import ast
    from pathlib import Path
    banned = {'mmengine', 'mmcv', 'mmdet', 'mmpretrain'}
    for path in Path(L.__file__).parent.glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            assert not banned & {n.split('.')[0] for n in names}, f'{path.name}: {names}'
