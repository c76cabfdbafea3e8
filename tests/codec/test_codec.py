"""RE module, compression network and DICMFeatureCodec: shapes, gradients, real coding."""
import subprocess
import sys
import textwrap

import pytest
import torch

from mmdicm.codec import (BitstreamError, DICMCompressionNet, DICMFeatureCodec, REModule,
                          container_overhead, unpack)

SMALL = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)),
    in_channels=32, preset='mmdicm-v1')  # the hyperprior (the release's: test_release_preset)


def small_codec(seed=0, **overrides):
    torch.manual_seed(seed)
    return DICMFeatureCodec(**{**SMALL, **overrides})


@pytest.mark.parametrize('block_type', ['convformer', 'convmod'])
@pytest.mark.parametrize('hw', [(16, 16), (32, 48), (48, 16)])
def test_shapes_of_every_stage(block_type, hw):
    codec = small_codec(re={**SMALL['re'], 'block_type': block_type})
    f1 = torch.randn(2, 32, *hw)
    out = codec(f1)
    h, w = hw
    assert out['f2'].shape == f1.shape and out['f3'].shape == f1.shape
    assert out['likelihoods']['re'].shape == (2, 16, h // 8, w // 8)
    assert out['likelihoods']['y'].shape == (2, 32, h // 4, w // 4)
    assert out['likelihoods']['z'].shape == (2, 16, h // 16, w // 16)


def test_default_widths_match_the_released_hyper_parameters():
    codec = DICMFeatureCodec().eval()
    f1 = torch.randn(1, 256, 32, 32)  # a 128x128 image after ResNet's layer1
    with torch.no_grad():
        out = codec(f1)
    assert out['f3'].shape == (1, 256, 32, 32)
    assert out['likelihoods']['re'].shape == (1, 192, 4, 4)  # H/32 of the image
    assert out['likelihoods']['y'].shape == (1, 192, 8, 8)  # H/16
    assert out['likelihoods']['z'].shape == (1, 192, 2, 2)  # H/64
    assert codec.stride == 16 and codec.re.stride == 8 and codec.net.stride == 16


def test_bypass_options():
    f1 = torch.randn(1, 32, 16, 16)
    no_re = small_codec(re=None)
    out = no_re(f1)
    assert out['f2'] is f1 and set(out['likelihoods']) == {'y', 'z'}
    no_net = small_codec(net=None)
    out = no_net(f1)
    assert out['f3'] is out['f2'] and set(out['likelihoods']) == {'re'}
    with pytest.raises(RuntimeError, match='bypassed'):
        no_net.encode(f1, [(64, 64)])


def test_channels_last_changes_the_layout_inside_not_the_results():
    f1 = torch.randn(2, 32, 32, 48)
    cl, nchw = small_codec(), small_codec(channels_last=False)
    nchw.load_state_dict(cl.state_dict())
    for codec in (cl, nchw):
        codec.eval().update(force=True)
    with torch.no_grad():
        a, b = cl(f1), nchw(f1)
    for key in ('f2', 'f3'):
        assert a[key].is_contiguous() and b[key].is_contiguous(), key  # NCHW for the tail
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    for key in a['likelihoods']:
        torch.testing.assert_close(a['likelihoods'][key], b['likelihoods'][key],
                                   rtol=1e-3, atol=1e-6)
    f3, _ = cl.decode(cl.encode(f1, [(128, 192)] * 2))
    assert f3.is_contiguous() and torch.equal(f3, a['f3'])
    with pytest.raises(TypeError, match='channels_last'):
        small_codec(channels_last='yes')


def test_sizes_that_are_not_multiples_of_the_stride_are_refused():
    with pytest.raises(ValueError, match='multiple of'):
        small_codec().net(torch.randn(1, 32, 20, 16))
    with pytest.raises(ValueError, match='multiple of'):
        small_codec().re(torch.randn(1, 32, 12, 16))
    with pytest.raises(ValueError, match=r'expects \(B, 32'):
        small_codec().net(torch.randn(1, 16, 16, 16))


@pytest.mark.parametrize('kwargs, key', [
    (dict(in_channels=-4), 'in_channels'),
    (dict(hidden_channels=0), 'hidden_channels'),
    (dict(depths=(1, -1)), r'depths\[1\]'),
    (dict(depths=()), 'depths'),
    (dict(block_type='transformer'), 'block_type'),
])
def test_bad_re_configs_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        REModule(**kwargs)


@pytest.mark.parametrize('kwargs, key', [
    (dict(latent_channels=-1), 'latent_channels'),
    (dict(hyper_dim=30, hyper_heads=4), 'dim'),
    (dict(orders=(2, 3)), 'orders'),
    (dict(mlp_ratios=(1, 1, 1, 1)), 'mlp_ratios'),
    (dict(latent_stride=8), 'latent_stride'),
])
def test_bad_net_configs_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        DICMCompressionNet(**kwargs)


def test_channel_mismatch_names_the_key():
    with pytest.raises(ValueError, match=r're.in_channels=128 does not match'):
        DICMFeatureCodec(re=dict(in_channels=128), in_channels=256)
    with pytest.raises(TypeError, match='net must be a dict'):
        DICMFeatureCodec(net='big')


def _bpp(likelihoods, num_pixels):
    return sum(-torch.log2(v).sum() for v in likelihoods.values()) / num_pixels


def test_task_and_rate_losses_reach_every_parameter_but_quantiles():
    codec = small_codec().train()
    f1 = torch.randn(2, 32, 32, 32)
    out = codec(f1)
    loss = (out['f3'] - f1).pow(2).mean() + 0.01 * _bpp(out['likelihoods'], 2 * 128 * 128)
    loss.backward()
    for name, p in codec.named_parameters():
        if name.endswith('quantiles'):
            assert p.grad is None or not p.grad.any(), name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f'{name} got no gradient'


def test_aux_loss_moves_only_the_quantiles():
    codec = small_codec().train()
    codec.aux_loss().backward()
    for name, p in codec.named_parameters():
        has_grad = p.grad is not None and bool(p.grad.any())
        assert has_grad == name.endswith('quantiles'), name


def _fitted_codec():
    """A small codec whose hyperprior and entropy models were fitted to its latents (~3 s).

    g_a's last conv is scaled up so that y carries real information (tens of kB), then only
    the rate is minimised over h_a, h_s and the entropy models, as the codec stage does.
    """
    codec = small_codec(seed=1)
    torch.manual_seed(1)
    data = torch.randn(4, 32, 64, 64)
    with torch.no_grad():
        codec.net.g_a[-1].weight.mul_(50.0)
    rate_params = [p for n, p in codec.named_parameters()
                   if n.startswith(('net.h_a', 'net.h_s', 'net.entropy_bottleneck'))
                   and not n.endswith('quantiles')]
    quantiles = [p for n, p in codec.named_parameters() if n.endswith('quantiles')]
    opt = torch.optim.Adam(rate_params, lr=1e-3)
    aux = torch.optim.Adam(quantiles, lr=1e-2)
    for _ in range(60):
        with torch.no_grad():
            y = codec.net.g_a(codec._edge_features(data))
        z_hat, z_lik = codec.net.entropy_bottleneck(codec.net.h_a(y))
        scales, means = codec.net.gaussian_params(z_hat)
        _, y_lik = codec.net.gaussian_conditional(y, scales, means=means)
        loss = _bpp(dict(y=y_lik, z=z_lik), 4 * 256 * 256)
        opt.zero_grad()
        aux.zero_grad()
        (loss + codec.aux_loss()).backward()
        opt.step()
        aux.step()
    for _ in range(300):  # let the quantiles converge: the CDF tables are built from them
        aux.zero_grad()
        codec.aux_loss().backward()
        aux.step()
    codec.eval().update(force=True)
    return codec, data


@pytest.fixture(scope='module')
def fitted():
    return _fitted_codec()


def test_decoded_latents_equal_the_encoders_bit_for_bit(fitted):
    codec, data = fitted
    f2 = codec._edge_features(data)
    out = codec.net.compress(f2)
    decoded = codec.net.decompress_latent(out['strings'], out['shape'])
    expected = codec.net.quantised_latent(f2)
    assert torch.equal(decoded, expected)
    # and the eval-mode forward (the in-memory path) gives the same features as real decoding
    size = tuple(s * codec.input_stride for s in data.shape[-2:])
    f3, _ = codec.decode(codec.encode(data, [size] * data.shape[0]))
    assert torch.equal(f3, codec(data)['f3'])


def test_real_bytes_match_the_likelihood_estimate(fitted):
    codec, data = fitted
    with torch.no_grad():
        lik = codec(data)['likelihoods']
    containers = codec.encode(data, [(256, 256)] * 4)
    est_bytes = float(sum(-torch.log2(lik[k]).sum() for k in ('y', 'z'))) / 8
    header = container_overhead([(4, 4)], [[b''], [b'']])
    assert header == 75
    payload = sum(len(c) for c in containers) - 4 * header
    # rANS itself is near-exact; the gap is CompressAI's 64-entry scale table (each scale is
    # rounded up to the next entry: 1.8 % here in NCHW, 2.3 % trained channels-last)
    assert abs(payload - est_bytes) <= 0.03 * est_bytes, (payload, est_bytes)


def test_encode_decode_round_trip_and_container_checks(fitted):
    codec, data = fitted
    containers = codec.encode(data[:2], [(250, 256), (256, 201)])
    f3, streams = codec.decode(containers)
    assert [s.image_size for s in streams] == [(250, 256), (256, 201)]
    with torch.no_grad():
        assert torch.equal(f3, codec(data[:2])['f3'])
    other = small_codec(seed=5).eval()
    other.update(force=True)
    with pytest.raises(BitstreamError, match='fingerprint'):
        other.decode(containers[0])
    with pytest.raises(BitstreamError):
        codec.decode(containers[0][:-1])
    with pytest.raises(ValueError, match='padded size'):
        codec.decode([containers[0], codec.encode(data[:1, :, :16], [(64, 256)])[0]])


def test_inconsistent_shapes_in_a_valid_container_are_refused(fitted):
    from mmdicm.codec.bitstream import pack
    codec, data = fitted
    good = unpack(codec.encode(data[:1], [(256, 256)])[0])
    forged = pack(good.fingerprint, (256, 256), [(9, 9)], good.sections, padded_size=(256, 256))
    with pytest.raises(BitstreamError, match='z shape'):
        codec.decode(forged)
    forged = pack(good.fingerprint, (12, 256), good.latent_shapes, good.sections,
                  padded_size=(256, 256))
    with pytest.raises(BitstreamError, match='inconsistent'):
        codec.decode(forged)


def test_fingerprint_follows_the_entropy_tables(fitted):
    codec, _ = fitted
    fp = codec.fingerprint()
    assert fp == codec.fingerprint() and len(fp) == 16
    bias = codec.net.h_s[0].bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias.add_(1.0)
    try:
        assert codec.fingerprint() != fp
    finally:
        with torch.no_grad():
            bias.copy_(saved)
    assert codec.fingerprint() == fp


def test_real_coding_needs_update():
    codec = small_codec().eval()
    with pytest.raises(RuntimeError, match=r'update\(force=True\)'):
        codec.encode(torch.randn(1, 32, 16, 16), [(64, 64)])


def test_decoding_in_another_process_with_other_threads_is_identical(fitted, tmp_path):
    """CompressAI's cross-run desync (upstream #279/#309): the decoder must derive the same
    Gaussian parameters as the encoder whatever its thread count."""
    codec, data = fitted
    torch.save(dict(state=codec.state_dict(), cfg=SMALL), tmp_path / 'codec.pth')
    (tmp_path / 'stream.bin').write_bytes(codec.encode(data[:1], [(256, 256)])[0])
    expected = codec.decode((tmp_path / 'stream.bin').read_bytes())[0]
    script = textwrap.dedent(f'''
        import torch
        torch.set_num_threads(1)
        from mmdicm.codec import DICMFeatureCodec
        ckpt = torch.load({str(tmp_path / 'codec.pth')!r})
        codec = DICMFeatureCodec(**ckpt['cfg']).eval()
        codec.load_state_dict(ckpt['state'])
        f3, _ = codec.decode(open({str(tmp_path / 'stream.bin')!r}, 'rb').read())
        torch.save(f3, {str(tmp_path / 'f3.pth')!r})
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert torch.get_num_threads() != 1 or pytest.skip('needs >1 thread in the test process')
    assert torch.equal(torch.load(tmp_path / 'f3.pth'), expected)


def test_gaussian_params_do_not_depend_on_summation_order(fitted):
    """Why decoding survives other CPUs/thread counts: the same h_s computed with another
    summation order (input channels of its first 1x1 conv permuted) gives bit-identical
    parameters in eval mode; the raw float32 path (training) does not, which shows that the
    check is sensitive enough to catch a desync-prone implementation."""
    import copy
    codec, data = fitted
    net = codec.net
    with torch.no_grad():
        z_hat = torch.round(net.h_a(net.g_a(codec._edge_features(data))))
    perm = torch.randperm(z_hat.shape[1], generator=torch.Generator().manual_seed(0))
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.h_s[0].weight.copy_(net.h_s[0].weight[:, perm])
        assert torch.equal(torch.cat(twin.gaussian_params(z_hat[:, perm])),
                           torch.cat(net.gaussian_params(z_hat)))
        net.train(), twin.train()
        try:
            raw, raw_twin = net.gaussian_params(z_hat), twin.gaussian_params(z_hat[:, perm])
        finally:
            net.eval()
        assert not torch.equal(torch.cat(raw), torch.cat(raw_twin))


def test_cached_float64_h_s_follows_every_weight_change():
    """The eval path casts h_s to float64 once per weight version; in-place updates (an
    optimizer step), load_state_dict and replaced tensors must all reach it."""
    net = small_codec().net.eval()
    z_hat = torch.round(torch.randn(1, 16, 2, 2) * 3)
    first = torch.cat(net.gaussian_params(z_hat))
    assert torch.equal(torch.cat(net.gaussian_params(z_hat)), first)  # cached: same result
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net.h_s[0].weight.mul_(2.0)  # in place, as an optimizer step
    stepped = torch.cat(net.gaussian_params(z_hat))
    assert not torch.equal(stepped, first)
    fresh = small_codec().net.eval()
    fresh.load_state_dict(net.state_dict())
    assert torch.equal(torch.cat(fresh.gaussian_params(z_hat)), stepped)
    net.load_state_dict(saved)
    assert torch.equal(torch.cat(net.gaussian_params(z_hat)), first)
    net.h_s[0].bias = torch.nn.Parameter(net.h_s[0].bias + 1.0)  # a replaced tensor
    assert not torch.equal(torch.cat(net.gaussian_params(z_hat)), first)


def test_fuzzed_containers_only_ever_raise_bitstream_error(fitted):
    """Thousands of mutated/truncated/extended files through the model's decode()."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    codec, data = fitted
    good = codec.encode(data[:1], [(256, 256)])[0]
    expected = codec.decode(good)[0]

    @settings(max_examples=1500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from(['flip', 'cut', 'insert', 'delete']),
                              st.integers(0, len(good) - 1), st.integers(1, 255)),
                    min_size=1, max_size=4))
    def check(mutations):
        blob = bytearray(good)
        for kind, pos, val in mutations:
            pos = min(pos, max(len(blob) - 1, 0))
            if kind == 'flip' and blob:
                blob[pos] ^= val
            elif kind == 'cut':
                del blob[pos:]
            elif kind == 'insert':
                blob.insert(pos, val)
            elif blob:
                del blob[pos]
        try:
            f3, _ = codec.decode(bytes(blob))
        except BitstreamError:
            return
        assert bytes(blob) == good and torch.equal(f3, expected)  # mutations cancelled out

    check()


def test_optional_full_resolution_synthesis_block():
    from mmdicm.layers import HorBlock
    lean = small_codec().net
    full = small_codec(net={**SMALL['net'], 'synthesis_full_res_block': True}).net
    n_blocks = [sum(isinstance(m, HorBlock) for m in net.g_s) for net in (lean, full)]
    assert n_blocks == [2, 3]
    assert isinstance(full.g_s[-1], HorBlock) and full.g_s[-1].norm1.normalized_shape == (32, )
    assert full(torch.randn(1, 32, 16, 16))['x_hat'].shape == (1, 32, 16, 16)


def test_latent_stride_2_codes_y_at_twice_the_resolution():
    """latent_stride=2: y at f1/2 (the image's 1/8), z at y/4; real coding round-trips, the
    stride reaches the padding, and the fingerprint tells it from stride 4's."""
    torch.manual_seed(0)
    codec = DICMFeatureCodec(net={**SMALL['net'], 'latent_stride': 2}, in_channels=32,
                             preset='mmdicm-v1').eval()
    default = DICMFeatureCodec(net=SMALL['net'], in_channels=32, preset='mmdicm-v1').eval()
    assert (codec.stride, default.stride) == (8, 16)
    assert codec.net.config['latent_stride'] == 2 and 'latent_stride' not in default.net.config
    f1 = torch.randn(1, 32, 16, 24)
    with torch.no_grad():
        out = codec(f1)
    assert out['likelihoods']['y'].shape[-2:] == (8, 12)
    assert out['likelihoods']['z'].shape[-2:] == (2, 3)
    assert out['f3'].shape == f1.shape
    codec.update(force=True)
    default.update(force=True)
    with torch.no_grad():
        f3, streams = codec.decode(codec.encode(f1, [(64, 96)]))
        assert torch.equal(f3, codec(f1)['f3'])
    assert streams[0].latent_shapes[0] == (2, 3)
    # same parameter names and shapes, but not the same codec
    assert codec.fingerprint() != default.fingerprint()


def test_checkpoints_of_shape_free_options_are_refused(tmp_path):
    """A checkpoint of another latent_stride (or hyper_heads, latent_leaky_relu,
    gnconv_scale: options no weight's shape tells) is refused by name, by torch and by
    mmengine's (non-strict) load_checkpoint; one from before the options buffer existed, and
    one of the same options, load as before."""
    from mmengine.runner import load_checkpoint, save_checkpoint

    def build(**net):
        return DICMFeatureCodec(net={**SMALL['net'], **net}, in_channels=32, preset='mmdicm-v1')

    torch.manual_seed(0)
    stride2, default = build(latent_stride=2), build()
    state = stride2.state_dict()
    with pytest.raises(ValueError, match=r'latent_stride=2 .*latent_stride=4'):
        default.load_state_dict(state)
    path = str(tmp_path / 'stride2.pth')
    save_checkpoint(stride2.state_dict(), path)
    with pytest.raises(ValueError, match='latent_stride=2'):
        load_checkpoint(default, path)
    for option, value in (('hyper_heads', 1), ('latent_leaky_relu', True),
                          ('gnconv_scale', 0.5)):
        other = build(**{option: value})
        with pytest.raises(ValueError, match=f'{option}={value!r}'):
            default.load_state_dict(other.state_dict())
    # the same options load, strictly, and the weights arrive
    twin = build(latent_stride=2)
    twin.load_state_dict(state)
    assert all(torch.equal(v, twin.state_dict()[k]) for k, v in state.items())
    # a checkpoint from before the buffer loads strictly, as it did (taken as built so)
    old = {k: v for k, v in state.items() if not k.endswith('shape_free_options')}
    assert len(old) == len(state) - 1
    default.load_state_dict(old)
    assert default.net.shape_free_options.tolist()[0] == 4


def test_build_indexes_equals_compressais_loop():
    """One bucketize gives CompressAI's scale-table indexes exactly: random scales, every
    table entry and its float neighbours, the lower bound, inf and NaN, any memory format;
    an unsorted custom table and an empty one take CompressAI's own loop."""
    from compressai.entropy_models import GaussianConditional as Stock
    from compressai.models.google import get_scale_table

    from mmdicm.codec.entropy import GaussianConditional

    ours, stock = GaussianConditional(None), Stock(None)
    table = get_scale_table()  # what update() of a CompressAI model installs
    for model in (ours, stock):
        model.update_scale_table(table)
    g = torch.Generator().manual_seed(0)
    entries = ours.scale_table
    special = torch.cat([entries, torch.nextafter(entries, entries + 1),
                         torch.nextafter(entries, entries - 1),
                         torch.tensor([0., -1., 1e-12, 0.11, 1e6, float('inf'), float('nan')])])
    scales = torch.rand(2, 192, 16, 8, generator=g).mul(40)  # the table spans 0.11 .. 256
    flat = scales.view(-1)
    flat[:special.numel()] = special
    flat[special.numel():special.numel() + 4096] = torch.rand(4096, generator=g).mul(0.2)
    expected = stock.build_indexes(scales)
    got = ours.build_indexes(scales)
    assert got.dtype == expected.dtype == torch.int32 and got.shape == expected.shape
    assert torch.equal(got, expected)
    assert set(got.unique().tolist()) == set(range(len(table)))  # every bucket was hit
    cl = scales.contiguous(memory_format=torch.channels_last)
    assert torch.equal(ours.build_indexes(cl), expected)
    # the DICM network codes with it
    net = DICMCompressionNet(in_channels=32, mid_channels=16, latent_channels=16,
                             hyper_channels=16, hyper_dim=32, hyper_heads=2)
    assert isinstance(net.gaussian_conditional, GaussianConditional)
    # fallbacks: CompressAI's loop
    calls = []
    original = Stock.build_indexes

    def spy(self, s):
        calls.append(1)
        return original(self, s)

    # (the constructor refuses an unsorted table; update_scale_table and state dicts do not)
    unsorted = [0.5, 0.2, 1.0, 3.0]
    shuffled, reference = GaussianConditional(None), Stock(None)
    for model in (shuffled, reference):
        model.update_scale_table(unsorted)
    try:
        Stock.build_indexes = spy
        assert torch.equal(shuffled.build_indexes(scales[:1, :4]),
                           original(reference, scales[:1, :4]))
        GaussianConditional(None).build_indexes(scales[:1, :4])
    finally:
        Stock.build_indexes = original
    assert len(calls) == 2


def test_real_coding_without_tables_names_the_hook_that_builds_them():
    codec = small_codec().eval()
    f1 = torch.randn(1, 32, 16, 16)
    with pytest.raises(RuntimeError, match="tables are empty.*EntropyUpdateHook"):
        codec.encode(f1, [(64, 64)])
    codec.update(force=True)
    data = codec.encode(f1, [(64, 64)])
    # half-updated (e.g. a state dict from before the Gaussian tables existed): refused too
    gc = codec.net.gaussian_conditional
    gc._quantized_cdf = gc._quantized_cdf.new_empty(0)
    with pytest.raises(RuntimeError, match='tables are empty'):
        codec.decode(data)
