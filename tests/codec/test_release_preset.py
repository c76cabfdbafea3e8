"""``DICMFeatureCodec(preset='release')`` (issue 16): the authors' code's blocks where they differ
from mmdicm's defaults -- the Transformer hyper-coder with relative position and top-k attention
at three resolutions, g_s mirroring g_a (3 blocks, MLP x4, drop path), the LeakyReLU around y,
RE's 3x3 stride-2 convs + LayerNorm and its straight-through rounded latent -- each also one key
on its own; real coding stays bit-exact; layouts never mix silently."""
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from mmdicm.codec import CODEC_PRESETS, DICMCompressionNet, DICMFeatureCodec, REModule
from mmdicm.layers import RelPosTransformer

pytestmark = pytest.mark.usefixtures('one_thread_module')

NET = dict(mid_channels=16, latent_channels=16, hyper_channels=16, hyper_dim=32, hyper_heads=2,
           gl_size=(8, 5), context=dict(dim=32, depth=1, num_heads=2, head_dim=16, topk=8))
SMALL = dict(re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)), net=NET,
             in_channels=32)
#: the config keys an mmdicm-v1 network (the default before Dec 2026) had before the
#: release's options existed: its fingerprint (what every container carries) must not change
OLD_CONFIG_KEYS = {'in_channels', 'mid_channels', 'latent_channels', 'hyper_channels', 'orders',
                   'global_local', 'mlp_ratios', 'gl_size', 'gnconv_scale', 'hyper_dim',
                   'hyper_heads', 'hyper_mlp_ratio', 'synthesis_full_res_block'}


def small_codec(preset='mmdicm-v1', seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = {**SMALL, **overrides}
    return DICMFeatureCodec(preset=preset, **cfg)


# ---------------------------------------------------------------------- the block
def test_rel_pos_transformer_uses_position_and_top_k():
    torch.manual_seed(0)
    block = RelPosTransformer(16, num_heads=2, head_dim=8, radius=2, topk=4).eval()
    x = torch.randn(1, 16, 4, 5)
    with torch.no_grad():
        out = block(x)
        assert out.shape == x.shape and not torch.allclose(out, x)
        block.topk = 20  # every key (20 positions) == no top-k
        every = block(x)
        block.topk = 0
        assert torch.equal(block(x), every) and not torch.allclose(every, out)
        block.rel_emb.mul_(50.0)  # the offset embedding moves the output
        assert not torch.allclose(block(x), every)
    # in training the number of keys is drawn in [topk // 2, 2 * topk): outputs vary
    block.train().topk = 4
    torch.manual_seed(1)
    draws = {tuple(block(x).flatten()[:3].tolist()) for _ in range(8)}
    assert len(draws) > 1


# ---------------------------------------------------------------------- the preset
def test_release_preset_builds_the_release_blocks_and_user_keys_win():
    codec = small_codec('release')
    net, re = codec.net, codec.re
    assert isinstance(net.h_a[1], RelPosTransformer) and isinstance(net.h_s[-1], RelPosTransformer)
    stages = [m for m in net.h_a if isinstance(m, RelPosTransformer)]
    assert [(m.radius, m.topk) for m in stages] == [(3, 32), (2, 16), (2, 8)]
    assert len(net.g_s) == 7 and net.g_s[-1].pwconv1.out_features == 4 * 32  # 3 blocks, MLP x4
    assert [b.drop_path.drop_prob if hasattr(b.drop_path, 'drop_prob') else 0.0
            for b in (net.g_a[0], net.g_a[3], net.g_a[5])] == [0.0, 0.25, 0.5]
    assert isinstance(net.g_a[-1], torch.nn.LeakyReLU)
    assert net.entropy_model == 'context_mixture' and re.straight_through
    assert re.encoder[2][0].kernel_size == (3, 3) and re.decoder[0][0].kernel_size == (5, 5)
    assert type(re.encoder[2][1]).__name__ == 'LayerNorm2d'
    # a key of the config wins over the preset's
    mine = small_codec('release', net={**NET, 'entropy_model': 'hyperprior'})
    assert mine.net.entropy_model == 'hyperprior' and isinstance(mine.net.h_a[1],
                                                                 RelPosTransformer)
    assert mine.net.h_s[-1].out_channels == 2 * 16  # LayerNorm + Linear to (scales, means)
    with pytest.raises(ValueError, match=r"codec preset must be one of \['mmdicm-v1', "
                                         r"'release', 's'\], got 'paper'"):
        small_codec('paper')
    assert set(CODEC_PRESETS) == {'mmdicm-v1', 'release', 's'}


def test_the_release_preset_is_the_default_and_the_old_name_says_where_it_went():
    codec = DICMFeatureCodec(**SMALL)
    assert codec.preset == 'release' and codec.net.entropy_model == 'context_mixture'
    assert codec.net.config == small_codec('release').net.config
    with pytest.raises(ValueError, match=r"^codec preset 'default' was renamed 'mmdicm-v1' in "
                                         r"Dec 2026 \(the default is now 'release'\)"):
        small_codec('default')


def test_the_mmdicm_v1_network_s_fingerprint_config_is_unchanged():
    """Containers written before these options existed keep decoding: the old default's
    config (hashed into every container's fingerprint) has exactly the old keys."""
    assert set(small_codec().net.config) == OLD_CONFIG_KEYS
    release = small_codec('release').net.config
    assert release['hyper_coder'] == 'release' and release['latent_leaky_relu']
    assert release['drop_path'] == (0.0, 0.25, 0.5)


def test_latent_leaky_relu_follows_the_first_up_scaling_with_the_same_keys():
    torch.manual_seed(0)
    plain = DICMCompressionNet(in_channels=32, **{k: v for k, v in NET.items() if k != 'context'})
    leaky = DICMCompressionNet(in_channels=32, latent_leaky_relu=True,
                               **{k: v for k, v in NET.items() if k != 'context'})
    state = plain.state_dict()
    assert set(leaky.state_dict()) == set(state)  # same keys: LeakyReLU has no weights
    with pytest.raises(ValueError, match='latent_leaky_relu=False'):
        leaky.load_state_dict(state)  # ... so the options buffer tells them apart
    del state['shape_free_options']  # as a checkpoint from before the buffer: loads
    leaky.load_state_dict(state)
    y = torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        assert torch.allclose(leaky.g_s[0](y), F.leaky_relu(plain.g_s[0](y)))
        assert not torch.allclose(leaky.g_s[0](y), plain.g_s[0](y))


# ---------------------------------------------------------------------- RE
def test_straight_through_feeds_the_decoder_the_rounded_latent_in_training():
    torch.manual_seed(0)
    f1 = torch.randn(2, 32, 16, 16) * 4
    for ste in (False, True):
        torch.manual_seed(0)
        re = REModule(in_channels=32, hidden_channels=16, latent_channels=16, depths=(1, 1, 1),
                      norm='layernorm', straight_through=ste)
        with torch.no_grad():
            re.encoder[-1][0].weight.mul_(20.0)  # a latent far from zero: rounding matters
        train = re.train()(f1)
        with torch.no_grad():
            evaluated = re.eval()(f1)
        same = torch.allclose(train['f2'], evaluated['f2'], atol=1e-5)
        assert same == ste  # the noisy latent in training gives another f2
        assert not torch.allclose(train['likelihoods']['re'], evaluated['likelihoods']['re'])
        if ste:  # and the gradient still reaches the encoder through the rounding
            re.train()(f1)['f2'].square().mean().backward()
            assert re.encoder[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="RE norm must be one of"):
        REModule(norm='batchnorm')


# ---------------------------------------------------------------------- coding
@pytest.fixture(scope='module')
def release_codec():
    codec = small_codec('release', seed=3)
    torch.manual_seed(3)
    data = F.interpolate(torch.randn(2, 32, 8, 8), scale_factor=4, mode='bilinear')
    with torch.no_grad():
        codec.net.g_a[-2].weight.mul_(30.0)  # y carries information
    codec.eval().update(force=True)
    return codec, data


@pytest.mark.parametrize('entropy_model', ['context_mixture', 'hyperprior'])
def test_release_preset_real_coding_equals_the_in_memory_estimate(release_codec, entropy_model):
    codec, data = release_codec
    if entropy_model == 'hyperprior':
        codec = small_codec('release', seed=3, net={**NET, 'entropy_model': 'hyperprior'})
        codec.eval().update(force=True)
    f3, streams = codec.decode(codec.encode(data, [(128, 128)] * 2))
    with torch.no_grad():
        assert torch.equal(f3, codec(data)['f3'])
    assert len(streams[0].sections) == (3 if entropy_model == 'context_mixture' else 2)


def test_release_preset_codes_identically_with_other_thread_counts(release_codec, tmp_path):
    """The release hyper-coder decides the CDFs (float64, 2**-8 grid, top-k in float64):
    a fresh process with 2 threads writes the same bytes and decodes the same features."""
    codec, data = release_codec
    mine = codec.encode(data, [(128, 128)] * 2)
    torch.save(dict(state=codec.state_dict(), data=data), tmp_path / 'c.pth')
    script = textwrap.dedent(f'''
        import sys, torch
        torch.set_num_threads(2)
        sys.path.insert(0, {str(__import__('os').path.dirname(__file__))!r})
        from test_release_preset import small_codec
        ckpt = torch.load({str(tmp_path / 'c.pth')!r})
        codec = small_codec('release', seed=3).eval()
        codec.load_state_dict(ckpt['state'])
        codec.update(force=True)
        out = codec.encode(ckpt['data'], [(128, 128)] * 2)
        torch.save(dict(out=out, f3=codec.decode(out)[0]), {str(tmp_path / 'o.pth')!r})
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = torch.load(tmp_path / 'o.pth')
    assert theirs['out'] == mine and torch.equal(theirs['f3'], codec.decode(mine)[0])


# ---------------------------------------------------------------------- layouts
def test_checkpoints_of_one_layout_are_refused_by_the_other():
    release, default = small_codec('release'), small_codec()
    with pytest.raises(ValueError, match="RE module has another layout"):
        default.load_state_dict(release.state_dict(), strict=False)
    # the networks alone (no RE): the hyper-coder decides first
    net_only = dict(re=None)
    src, dst = small_codec('release', **net_only), small_codec(**net_only)
    with pytest.raises(ValueError, match="checkpoint has hyper_coder='release' weights but the "
                                         "network was built with hyper_coder='vit'"):
        dst.load_state_dict(src.state_dict(), strict=False)
    with pytest.raises(ValueError, match="hyper_coder='vit' weights"):
        src.load_state_dict(dst.state_dict(), strict=False)
    mirror = small_codec(re=None, net={**NET, 'synthesis_full_res_block': True})
    with pytest.raises(ValueError, match='synthesis_full_res_block=True weights'):
        dst.load_state_dict(mirror.state_dict(), strict=False)
    # no false alarm: a checkpoint of the same layout loads, strict
    small_codec('release', seed=5).load_state_dict(release.state_dict())
    default.load_state_dict(small_codec(seed=5).state_dict())
