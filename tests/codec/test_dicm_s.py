"""DICM-S (issue 18): ``DICMFeatureCodec(preset='s')``, the edge-sized codec -- the paper's
kinds of block at smaller widths, RE starting with its first down-scaling, no full-resolution
HorNet block on either side, 3x3 full-resolution (de)convs. It must build what it says, stay
under its GFLOP budget, code bit-exactly, and refuse checkpoints of another preset in one
line that names the preset."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner.checkpoint import load_checkpoint

from mmdicm.codec import CODEC_PRESETS, DICMCompressionNet, DICMFeatureCodec
from mmdicm.layers import HorBlock

pytestmark = pytest.mark.usefixtures('one_thread_module')


def s_codec(in_channels=64, seed=0, **kwargs):
    torch.manual_seed(seed)
    return DICMFeatureCodec(preset='s', in_channels=in_channels, **kwargs)


def test_preset_s_builds_the_edge_sized_blocks():
    codec = s_codec()
    re, net = codec.re, codec.net
    assert re.depths == (0, 1, 2) and re.encoder[0].out_channels == 64
    # RE reaches its first stride before any block: no block at f1's resolution
    assert len(re.encoder[1]) == 0 and isinstance(re.encoder[2], torch.nn.Conv2d)
    # g_a starts with its 3x3 down-scaling (no full-resolution HorNet block), g_s ends with
    # the 3x3 up-scaling: the two mirror each other
    assert isinstance(net.g_a[0], torch.nn.Conv2d) and net.g_a[0].kernel_size == (3, 3)
    assert sum(isinstance(m, HorBlock) for m in net.g_a) == 2
    assert sum(isinstance(m, HorBlock) for m in net.g_s) == 2
    assert net.g_s[-1].kernel_size == (3, 3) and net.g_s[-1].out_channels == 64
    assert (net.config['mid_channels'], net.config['latent_channels'],
            net.config['hyper_channels'], net.config['hyper_dim']) == (96, 160, 128, 192)
    assert net.config['analysis_full_res_block'] is False
    assert net.config['outer_kernel_size'] == 3
    # the release's two blocks that cost no FLOPs (2026-12-04: BD-rate vs release +51 -> +7 %)
    assert isinstance(net.g_a[-1], torch.nn.LeakyReLU)
    assert net.config['latent_leaky_relu'] is True
    assert tuple(net.config['drop_path']) == (0.0, 0.25, 0.5)
    # user keys win over the preset's, as for every preset
    wide = s_codec(net=dict(mid_channels=128))
    assert wide.net.config['mid_channels'] == 128 and wide.net.config['outer_kernel_size'] == 3
    assert codec.stride == 16  # f1 padded as for the default codec


def test_new_options_leave_the_default_fingerprint_config_alone():
    net = DICMCompressionNet(in_channels=32, mid_channels=16, latent_channels=16,
                             hyper_channels=16, hyper_dim=32, hyper_heads=2)
    assert 'analysis_full_res_block' not in net.config and 'outer_kernel_size' not in net.config
    with pytest.raises(TypeError, match='analysis_full_res_block must be True or False'):
        DICMCompressionNet(analysis_full_res_block=0)


def test_preset_s_meets_its_gflop_budget_at_512():
    """The issue's decoder target (<= 8 GFLOPs at 512x512, default 17.7) and an edge well
    under mbt2018-mean's compress (25.7 GFLOPs, benchmark_codec): counted, not timed."""
    from mmdicm.benchmarks.components import component_table

    s = component_table((512, 512), codec_cfg=dict(preset='s'))['totals']
    default = component_table((512, 512))['totals']
    assert s['receiver']['gflops'] <= 8.0 < default['receiver']['gflops']
    assert s['edge']['gflops'] <= 0.35 * default['edge']['gflops']
    assert s['edge']['gflops'] < 25.7


@pytest.fixture(scope='module')
def coded():
    codec = s_codec(seed=3)
    torch.manual_seed(3)
    f1 = F.interpolate(torch.randn(2, 64, 8, 8), scale_factor=8, mode='bilinear')
    with torch.no_grad():
        last_conv = [m for m in codec.net.g_a if isinstance(m, torch.nn.Conv2d)][-1]
        last_conv.weight.mul_(30.0)  # y carries information
    codec.eval().update(force=True)
    return codec, f1


def test_preset_s_real_coding_equals_the_in_memory_path(coded):
    codec, f1 = coded
    data = codec.encode(f1, [(256, 256)] * 2)
    f3, streams = codec.decode(data)
    with torch.no_grad():
        assert torch.equal(f3, codec(f1)['f3'])
    assert len(streams[0].sections) == 2 and streams[0].image_size == (256, 256)
    assert codec.decode(codec.encode(f1, [(256, 256)] * 2))[0].equal(f3)  # deterministic
    assert len(data[0]) > 100  # the latent carries information


def test_a_checkpoint_of_another_preset_is_refused_in_one_line(coded, tmp_path):
    """Through mmengine's loader (strict=False, which would only warn about the mismatching
    tensors): one line naming the preset, both ways, and no false alarm."""
    s = coded[0]
    torch.manual_seed(0)
    release = DICMFeatureCodec(in_channels=64)  # the default preset
    for src, dst, theirs in ((release, s_codec(), 'release'), (s, DICMFeatureCodec(in_channels=64),
                                                               's')):
        path = tmp_path / f'{theirs}.pth'
        torch.save(dict(state_dict=src.state_dict()), path)
        with pytest.raises(ValueError) as info:
            load_checkpoint(dst, str(path), map_location='cpu')
        message = str(info.value)
        assert '\n' not in message and f"preset {dst.preset!r}" in message, message
    # widths alone (same key names) are caught by the shape check
    narrow = DICMFeatureCodec(preset='s', in_channels=64, net=dict(mid_channels=64))
    torch.save(dict(state_dict=narrow.state_dict()), tmp_path / 'narrow.pth')
    with pytest.raises(ValueError, match=r"codec does not fit this one \(codec preset 's'\): "
                                         r"net\.g_a\.0\.weight is \(64, 64, 3, 3\) there"):
        load_checkpoint(s_codec(), str(tmp_path / 'narrow.pth'), map_location='cpu')
    torch.save(dict(state_dict=s.state_dict()), tmp_path / 'same.pth')
    load_checkpoint(s_codec(seed=1), str(tmp_path / 'same.pth'), map_location='cpu', strict=True)


def test_presets_table_names_s():
    assert CODEC_PRESETS['s']['net']['analysis_full_res_block'] is False
