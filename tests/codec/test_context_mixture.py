"""entropy_model='context_mixture': Gaussian mixture + Transformer context, real two-pass
coding (bit-exact, thread-count proof, near the estimate), and the layout guards."""
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdicm.codec import BitstreamError, DICMCompressionNet, DICMFeatureCodec, pack, unpack
from mmdicm.codec.context_mixture import anchor_mask
from mmdicm.codec.mixture import GaussianMixtureConditional
from mmdicm.layers import MaskedContextTransformer
from mmdicm.layers.context import relative_buckets

from fuzz_decode_cases import _mutate_string  # tests/codec

pytestmark = pytest.mark.usefixtures('one_thread_module')

NET = dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32, hyper_heads=2,
           gl_size=(8, 5))
CTX = dict(NET, entropy_model='context_mixture', mixture_components=3,
           context=dict(depth=2, num_heads=2, head_dim=16, topk=8))
#: the entropy model on mmdicm-v1's network (the release preset's blocks: test_release_preset)
SMALL = dict(re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)), net=CTX,
             in_channels=32, preset='mmdicm-v1')


def small_codec(seed=0, **overrides):
    torch.manual_seed(seed)
    return DICMFeatureCodec(**{**SMALL, **overrides})


def _bits(likelihoods):
    return sum(-torch.log2(v).sum() for v in likelihoods.values())


def _fitted():
    """A small context-mixture codec fitted to spatially correlated features (~5 s): g_a's
    last conv scaled up so y carries information, then the rate alone minimised over h_a,
    h_s, the entropy models and the context model, as the codec stage does."""
    codec = small_codec(seed=1)
    torch.manual_seed(1)
    data = F.interpolate(torch.randn(4, 32, 16, 16), scale_factor=4, mode='bilinear')
    with torch.no_grad():
        codec.net.g_a[-1].weight.mul_(100.0)
    net = codec.net
    rate = [p for n, p in net.named_parameters()
            if n.startswith(('h_a', 'h_s', 'entropy_bottleneck', 'context_mixture'))
            and not n.endswith('quantiles')]
    quantiles = [p for n, p in net.named_parameters() if n.endswith('quantiles')]
    opt, aux = torch.optim.Adam(rate, lr=2e-3), torch.optim.Adam(quantiles, lr=1e-2)
    with torch.no_grad():
        y = net.g_a(codec._edge_features(data))
    for _ in range(40):
        z_hat, z_lik = net.entropy_bottleneck(net.h_a(y))
        y_lik = net.context_mixture(y, net.hyper_features(z_hat))['likelihoods']['y']
        opt.zero_grad(), aux.zero_grad()
        (_bits(dict(y=y_lik, z=z_lik)) / y.numel() + codec.aux_loss()).backward()
        opt.step(), aux.step()
    for _ in range(200):  # the z tables are built from the quantiles
        aux.zero_grad()
        codec.aux_loss().backward()
        aux.step()
    codec.eval().update(force=True)
    return codec, data


@pytest.fixture(scope='module')
def fitted():
    return _fitted()


def test_mixture_likelihoods_and_tables_are_compressais_distribution():
    """Likelihoods equal CompressAI's GaussianMixtureConditional's; the quantised per-symbol
    tables give each likely value its likelihood in bits (to 0.05 bit)."""
    from compressai.entropy_models import GaussianMixtureConditional as Stock
    torch.manual_seed(0)
    gm, K, M = GaussianMixtureConditional(3), 3, 8
    params = torch.round(torch.randn(2, gm.param_channels(M), 5, 6) * 2 * 256) / 256
    y_hat = torch.round(torch.randn(2, M, 5, 6) * 3)
    means, scales, weights = gm.split(params, M)
    stock = Stock(K=K)
    flat = [t.reshape(2, K * M, 5, 6) for t in (scales, means, weights)]
    expected = stock.likelihood_lower_bound(stock._likelihood(y_hat, *flat))
    torch.testing.assert_close(gm.likelihood(y_hat, params), expected, rtol=1e-5, atol=1e-7)
    # the coding tables of the first item
    rows = params[0].reshape(3, K, M, -1).permute(2, 3, 0, 1).reshape(-1, 3, K).double()
    tab = gm.tables(rows.numpy())
    values = y_hat[0].reshape(-1).long().numpy() - tab['offsets']
    inside = (values >= 0) & (values < tab['sizes'] - 2)
    assert inside.mean() > 0.99
    cdf, start = tab['cdfs'], tab['starts'][inside] + values[inside]
    table_bits = -np.log2((cdf[start + 1] - cdf[start]) / 65536.0)
    lik_bits = -np.log2(expected[0].reshape(-1).double().numpy()[inside])
    likely = lik_bits < 10  # below 2**-10 the 16-bit tables' floor of 1/65536 shows
    assert likely.sum() > 100 and (table_bits <= 16).all()
    assert np.abs(table_bits - lik_bits)[likely].max() < 0.05


def test_context_model_reads_only_visible_positions():
    torch.manual_seed(0)
    net = MaskedContextTransformer(8, dim=16, depth=2, num_heads=2, head_dim=8).eval()
    y = torch.randn(2, 8, 6, 6)
    visible = anchor_mask(6, 6)
    out = net(y, visible)
    assert out.shape == (2, 16, 6, 6) and not out[:, :, visible].any()
    hidden_changed = torch.where(visible, y, y + 7.0)
    assert torch.equal(net(hidden_changed, visible), out)  # no leak from hidden positions
    assert not torch.allclose(net(torch.where(visible, y + 1.0, y), visible), out)
    with pytest.raises(ValueError, match='visible must be a bool'):
        net(y, visible.float())
    # one position bucket per offset of L1 distance <= radius (13 for 2), one for the rest
    buckets = relative_buckets(5, 5, 2)
    assert len(set(buckets[12].tolist())) == 14 and len(set(buckets[0].tolist())) == 7
    assert len(set(buckets.diagonal().tolist())) == 1


def test_training_uses_random_scans_and_reaches_every_entropy_parameter():
    codec = small_codec().train()
    net = codec.net
    y = torch.randn(2, 32, 8, 8) * 5
    hyper = torch.randn(2, 32, 8, 8)
    calls = []
    hook = net.context_mixture.context_model.register_forward_hook(
        lambda m, args, out: calls.append(args[1].clone()))
    lik = net.context_mixture(y, hyper)['likelihoods']['y']
    net.context_mixture(y, hyper)
    hook.remove()
    assert not torch.equal(calls[0], calls[1])  # a new random visible set per forward
    assert 0.25 < calls[0].float().mean() < 0.75  # mask ratio 0.5
    (-torch.log2(lik).sum()).backward()
    for name, p in net.context_mixture.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_two_pass_decode_equals_the_encoder_and_the_in_memory_estimate(fitted):
    codec, data = fitted
    net = codec.net
    f2 = codec._edge_features(data)
    out = net.compress(f2)
    assert len(out['strings']) == 3 and all(len(s) == 4 for s in out['strings'])
    y_hat = net.decompress_latent(out['strings'], out['shape'])
    assert torch.equal(y_hat, net.quantised_latent(f2))
    size = tuple(s * codec.input_stride for s in data.shape[-2:])
    f3, streams = codec.decode(codec.encode(data, [size] * 4))
    with torch.no_grad():
        assert torch.equal(f3, codec(data)['f3'])
    assert len(streams[0].sections) == 3


def test_real_bytes_are_within_3_percent_of_the_estimate(fitted):
    codec, data = fitted
    with torch.no_grad():
        lik = codec(data)['likelihoods']
    est = float(_bits({k: lik[k] for k in ('y', 'z')})) / 8
    containers = codec.encode(data, [(256, 256)] * 4)
    payload = sum(unpack(c).payload_size for c in containers)
    y_bits = float(-torch.log2(lik['y']).sum())
    assert y_bits / lik['y'].numel() > 1.0  # y carries information: not a degenerate case
    assert abs(payload - est) <= 0.03 * est, (payload, est)
    # each container: 81 bytes of overhead (75 + one more section of one string)
    assert len(containers[0]) - unpack(containers[0]).payload_size == 81


def test_coding_is_identical_in_processes_with_other_thread_counts(fitted, tmp_path):
    """Encoder and decoder derive the same mixture tables whatever their thread count: two
    fresh processes (1 and 2 threads) write byte-identical containers and decode them (and
    this process's) to identical features."""
    codec, data = fitted
    mine = codec.encode(data[:2], [(256, 256)] * 2)
    torch.save(dict(state=codec.state_dict(), cfg=SMALL, data=data[:2], mine=mine),
               tmp_path / 'c.pth')
    script = textwrap.dedent(f'''
        import sys, torch
        torch.set_num_threads(int(sys.argv[1]))
        from mmdicm.codec import DICMFeatureCodec
        ckpt = torch.load({str(tmp_path / 'c.pth')!r})
        codec = DICMFeatureCodec(**ckpt['cfg']).eval()
        codec.load_state_dict(ckpt['state'])
        out = codec.encode(ckpt['data'], [(256, 256)] * 2)
        f3, f3_mine = codec.decode(out)[0], codec.decode(ckpt['mine'])[0]
        torch.save(dict(out=out, f3=f3, f3_mine=f3_mine), sys.argv[2])
    ''')
    procs = [subprocess.Popen([sys.executable, '-c', script, str(t), str(tmp_path / f'{t}.pth')],
                              stderr=subprocess.PIPE, text=True) for t in (1, 2)]
    for proc in procs:  # both at once: the import takes most of the time
        _, err = proc.communicate()
        assert proc.returncode == 0, err[-2000:]
    results = [torch.load(tmp_path / f'{t}.pth') for t in (1, 2)]
    expected = codec.decode(mine)[0]
    for r in results:
        assert r['out'] == mine
        assert torch.equal(r['f3'], expected) and torch.equal(r['f3_mine'], expected)


def test_corrupted_strings_are_bitstream_errors(fitted):
    codec, data = fitted
    good = unpack(codec.encode(data[:1], [(256, 256)])[0])
    expected = codec.decode(good.to_bytes())[0]
    rng = random.Random(0)
    refused = 0
    for i in range(150):
        sections = [list(s) for s in good.sections]
        k = i % 3  # anchors, non-anchors, z
        _, sections[k][0] = _mutate_string(rng, sections[k][0], sections[(k + 1) % 3][0])
        blob = pack(good.fingerprint, good.image_size, good.latent_shapes, sections,
                    padded_size=good.padded_size)
        try:
            f3, _ = codec.decode(blob)
        except BitstreamError as e:
            assert str(e).startswith(('y anchor string', 'y non-anchor string',
                                      'z string')), e
            refused += 1
            continue
        assert sections == [list(s) for s in good.sections] and torch.equal(f3, expected)
    assert refused >= 120


def test_layouts_do_not_mix(fitted):
    """A checkpoint of one entropy model does not load into the other (one-line error, even
    with strict=False), and a container of one layout is refused by the other's receiver."""
    codec, data = fitted
    hyper = DICMFeatureCodec(**{**SMALL, 'net': NET})
    for src, dst, theirs in ((codec, hyper, 'context_mixture'), (hyper, codec, 'hyperprior')):
        with pytest.raises(ValueError, match=f"checkpoint has entropy_model='{theirs}'"):
            dst.load_state_dict(src.state_dict(), strict=False)
    k1 = DICMCompressionNet(in_channels=32, **{**CTX, 'mixture_components': 1})
    with pytest.raises(ValueError, match='mixture_components'):
        k1.load_state_dict(codec.net.state_dict(), strict=False)
    # the K=1 model (the release's --K 1 --num_parameter 2) predicts 2 parameters per element
    assert k1.context_mixture.param_net[-1].out_channels == 2 * 32
    # the parameter network's width is a context key (DICM-S's budget), in the fingerprint's
    # config; a checkpoint of another width is refused
    slim = DICMCompressionNet(in_channels=32, **{**CTX, 'context': {**CTX['context'],
                                                                   'param_hidden': 24}})
    assert slim.context_mixture.param_net[0].out_channels == 24
    assert codec.net.context_mixture.param_net[0].out_channels == 4 * NET['hyper_dim']
    assert slim.config['context']['param_hidden'] == 24
    with pytest.raises(ValueError, match=r'\(param_net\) is 128 wide, this network 24: '
                                         r'set context.param_hidden=128'):
        slim.load_state_dict(codec.net.state_dict(), strict=False)
    with pytest.raises(ValueError, match=r'context.param_hidden must be an int >= 1, got 0'):
        DICMCompressionNet(in_channels=32, **{**CTX, 'context': {'param_hidden': 0}})
    hyper.eval().update(force=True)
    with pytest.raises(BitstreamError, match='fingerprint'):
        hyper.decode(codec.encode(data[:1], [(256, 256)])[0])
    good = unpack(codec.encode(data[:1], [(256, 256)])[0])
    two = pack(good.fingerprint, good.image_size, good.latent_shapes,
               [good.sections[0], good.sections[2]], padded_size=good.padded_size)
    with pytest.raises(BitstreamError, match=r'expected sections \[\[y anchors\], '
                                             r'\[y non-anchors\], \[z\]\]'):
        codec.decode(two)
    with pytest.raises(ValueError, match='entropy_model must be one of'):
        DICMCompressionNet(entropy_model='autoregressive')


def test_fingerprint_covers_the_context_and_parameter_networks(fitted):
    codec, _ = fitted
    fp = codec.fingerprint()
    cm = codec.net.context_mixture
    for tensor in (cm.context_model.rel_emb, cm.context_model.blocks[0].attn.qkv.weight,
                   cm.param_net[0].bias):
        saved = tensor.detach().clone()
        with torch.no_grad():
            tensor.add_(1e-3)
        try:
            assert codec.fingerprint() != fp
        finally:
            with torch.no_grad():
                tensor.copy_(saved)
    assert codec.fingerprint() == fp
    # the hyperprior model's config (and so its fingerprint) did not change
    assert 'entropy_model' not in DICMCompressionNet(in_channels=32, **NET).config


def test_coding_params_do_not_depend_on_summation_order(fitted):
    """Why the tables survive other CPUs/thread counts: the context model computed with
    another summation order (its input channels permuted) gives bit-identical parameters in
    eval mode; the float32 path does not, so the check can see a desync-prone one."""
    import copy
    codec, data = fitted
    cm = codec.net.context_mixture
    with torch.no_grad():
        y = torch.round(codec.net.g_a(codec._edge_features(data[:2])))
        hyper = codec.net.hyper_features(torch.round(codec.net.h_a(y)))
    perm = torch.randperm(y.shape[1], generator=torch.Generator().manual_seed(0))
    twin = copy.deepcopy(cm)
    with torch.no_grad():
        twin.context_model.embed.weight.copy_(cm.context_model.embed.weight[:, perm])
        assert torch.equal(twin.coding_params(y[:, perm], hyper), cm.coding_params(y, hyper))
        anchors = anchor_mask(*y.shape[-2:])
        raw = cm.context_model(y, anchors, topk=8)
        raw_twin = twin.context_model(y[:, perm], anchors, topk=8)
        assert not torch.equal(raw, raw_twin)


def test_tables_refuse_non_finite_and_clip_far_means():
    gm = GaussianMixtureConditional(2)
    params = np.zeros((4, 3, 2))
    params[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='1 mixture parameters are not finite'):
        gm.tables(params)
    params[0, 0, 0] = 1e30  # e.g. from a crafted z: the table stays codable, offsets in int32
    tab = gm.tables(params)
    assert tab['offsets'][0] > 2**22 and (tab['sizes'] >= 3).all()
    symbols = np.array([2**24, 0, 1, -1])
    data = gm.encode(symbols, tab, 'y')
    assert gm.decode(data, tab, 'y').tolist() == symbols.tolist()
