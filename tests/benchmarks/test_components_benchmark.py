"""The component table on the released model at small sizes: rows cover every parameter, the
totals add up, conv FLOPs scale with the image area, and the attention of timm's ViT blocks
is counted on CPU."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmdicm.benchmarks import (COMPONENT_ROWS, build_component_model, component_table,
                               format_component_table)
from mmdicm.benchmarks.components import _gflops
from mmdicm.layers import ViTBlock


@pytest.fixture(scope='module')
def mixture_model():
    torch.manual_seed(0)
    return build_component_model('context_mixture')


def _by_key(result):
    return {r['key']: r for r in result['rows']}


def test_rows_cover_every_parameter_and_totals_add_up(mixture_model):
    result = component_table((128, 128), model=mixture_model)
    rows = _by_key(result)
    assert list(rows) == [key for key, *_ in COMPONENT_ROWS]
    assert sum(r['params'] for r in rows.values()) == result['total_params']
    assert result['total_params'] == sum(p.numel() for p in mixture_model.parameters())
    for key in ('head', 're_encoder', 're_decoder', 'g_a', 'h_a', 'h_s', 'context',
                'param_net', 'g_s', 'tail'):
        assert rows[key]['params'] > 0 and rows[key]['gflops'] > 0, key
    edge = [r for r in rows.values() if 'edge' in r['runs_on']]
    assert result['totals']['edge']['gflops'] == pytest.approx(sum(r['gflops'] for r in edge))
    receiver = result['totals']['receiver']
    assert receiver['params'] == sum(rows[k]['params'] for k in (
        'z_entropy', 'h_s', 'context', 'param_net', 'y_entropy', 'g_s'))
    assert (result['totals']['receiver_tail']['params']
            == receiver['params'] + rows['tail']['params'])
    text = format_component_table(result)
    assert 'context model' in text and 'total: edge (image -> bytes)' in text


def test_conv_parts_scale_with_the_image_area(mixture_model):
    small = _by_key(component_table((64, 64), model=mixture_model))
    large = _by_key(component_table((128, 128), model=mixture_model))
    for key in ('head', 're_encoder', 're_decoder', 'g_a', 'g_s', 'tail', 'param_net'):
        assert large[key]['gflops'] / small[key]['gflops'] == pytest.approx(4.0, rel=0.05), key
    assert all(large[k]['params'] == small[k]['params'] for k in large)


def test_hyperprior_has_no_context_rows():
    result = component_table((64, 64), entropy_model='hyperprior')
    rows = _by_key(result)
    assert 'context' not in rows and 'param_net' not in rows
    assert sum(r['params'] for r in rows.values()) == result['total_params']
    assert rows['y_entropy']['params'] == 0


def test_cpu_attention_is_counted():
    block = ViTBlock(32, num_heads=2).eval()
    x = torch.randn(1, 32, 4, 4)
    n, d = 16, 32
    linear = 2 * n * (3 * d * d + d * d + 2 * 4 * d * d)
    with torch.no_grad():
        with FlopCounterMode(display=False) as plain:
            block(x)
        gflops, _ = _gflops(lambda: block(x))
    assert plain.get_total_flops() == linear  # torch's registry misses the CPU kernel
    assert gflops * 1e9 == pytest.approx(linear + 2 * 2 * n * n * d)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='multiple of 64'):
        component_table((100, 64))
    with pytest.raises(ValueError, match='entropy_model must be one of'):
        build_component_model('autoregressive')
