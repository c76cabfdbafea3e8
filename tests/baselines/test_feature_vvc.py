"""The feature-domain anchor (issue 20, MPEG FCM's approach): split features quantised to 10 bits,
tiled into one frame, coded intra by VVC; its file counts the side information; in a task
model's test pass the split's output is replaced by its decoded version and bpp is counted
over the same pixels as the pixel codecs'."""
import numpy as np
import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from skimage import data as skdata

from mmdicm.baselines import CodecError, FeatureVVCCodec, get_feature_codec
from mmdicm.baselines.feature_vvc import (dequantise, pack_frame, quantise, tile_grid,
                                          unpack_frame)

CODEC = FeatureVVCCodec()
needs_vvc = pytest.mark.skipif(not CODEC.available()[0], reason=CODEC.available()[1])


@pytest.mark.parametrize('channels', [1, 3, 64, 70])
def test_pack_unpack_is_exact(channels):
    f = np.random.default_rng(channels).standard_normal((channels, 5, 7)).astype(np.float32)
    rows, cols = tile_grid(channels)
    frame = pack_frame(f, fill=-9)
    assert frame.shape == (rows * 5, cols * 7) and rows * cols >= channels > (rows - 1) * cols
    np.testing.assert_array_equal(unpack_frame(frame, channels, 5, 7), f)
    assert (frame.size - f.size) == (rows * cols - channels) * 35 == (frame == -9).sum()
    padded = np.pad(frame, ((0, 3), (0, 1)))  # a codec's padding is ignored
    np.testing.assert_array_equal(unpack_frame(padded, channels, 5, 7), f)
    with pytest.raises(CodecError, match='smaller than'):
        unpack_frame(frame[:-1], channels, 5, 7)


@pytest.mark.parametrize('mode', ['tensor', 'channel'])
def test_quantise_dequantise_error_is_within_half_a_step(mode):
    rng = np.random.default_rng(0)
    f = (rng.standard_normal((8, 6, 6)) * np.arange(1, 9)[:, None, None]).astype(np.float32)
    f[3] = 2.5  # a constant channel
    q, lo, hi = quantise(f, mode, bits=10)
    assert q.dtype == np.uint16 and q.max() <= 1023 and lo.shape == hi.shape
    assert lo.shape == ((1, ) if mode == 'tensor' else (8, ))
    g = dequantise(q, lo, hi, bits=10)
    step = ((hi - lo) / 1023).reshape(-1, 1, 1) if mode == 'channel' else (hi - lo) / 1023
    err = np.abs(g - f)
    assert (err <= step / 2 + 1e-5).all()
    if mode == 'channel':
        np.testing.assert_array_equal(g[3], f[3])  # a constant channel is exact
        # per-channel ranges fit channels of small range better
        assert np.abs(dequantise(*quantise(f, 'tensor'), bits=10) - f)[0].max() > err[0].max()
    with pytest.raises(ValueError, match='NaN or inf'):
        quantise(np.full((1, 2, 2), np.nan, np.float32))


@needs_vvc
@pytest.mark.parametrize('quant', ['tensor', 'channel'])
def test_the_file_counts_the_side_information_and_round_trips(quant):
    codec = get_feature_codec('fcm-vvc', quant=quant)
    # smooth maps, as features are (ffmpeg's libvvenc refuses access units far larger than
    # the picture: white noise at QP < ~12)
    f = np.cumsum(np.cumsum(np.random.default_rng(1).standard_normal((10, 12, 9)), 1), 2)
    f = f.astype(np.float32)
    data = codec.encode(f, qp=12)
    (shape, mode, bits, lo, hi, stream) = codec.split(data)
    n = 1 if quant == 'tensor' else 10
    assert shape == (10, 12, 9) and mode == quant and bits == 10
    assert codec.side_info_bytes(data) == 12 + 8 * n == len(data) - len(stream)
    assert stream.startswith(b'\x00\x00\x00\x01')  # the Annex-B VVC bitstream follows
    g = codec.decode(data)
    assert g.shape == f.shape and np.abs(g - f).max() < 0.05 * (f.max() - f.min())
    for bad in (data[:5], b'XXXX' + data[4:], data[:12 + 8 * n]):
        with pytest.raises(CodecError, match='fcm-vvc'):
            codec.decode(bad)


@needs_vvc
def test_low_qp_features_keep_the_tail_s_output_and_high_qp_costs_fewer_bits():
    """ResNet-18 layer1 features of a photo through VVC at a low QP: layer4 (what the task
    heads read) stays close to uncompressed; a high QP codes far fewer bytes."""
    torch.manual_seed(0)
    init_default_scope('mmdet')
    net = MODELS.build(dict(type='ResNet', depth=18, out_indices=(0, 3)))
    net.eval()  # (mmdet's ResNet.train returns None)
    img = torch.from_numpy(np.ascontiguousarray(skdata.astronaut()[::4, ::4])).permute(
        2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        x = net.maxpool(net.relu(net.norm1(net.conv1(img))))
        f1 = net.layer1(x)
        codec = get_feature_codec('fcm-vvc')
        near = codec.encode(f1[0].numpy(), qp=12)
        far = codec.encode(f1[0].numpy(), qp=47)
        outs = []
        for f in (f1, torch.from_numpy(codec.decode(near))[None]):
            outs.append(net.layer4(net.layer3(net.layer2(f))))
    rel = (outs[1] - outs[0]).norm() / outs[0].norm()
    assert rel < 0.05, float(rel)
    assert len(far) < len(near) / 3


def _low_rank(rng, channels=24, rank=3, size=(10, 12), n=1):
    """Smooth maps of ``rank`` underlying components mixed into ``channels`` channels."""
    mix = rng.standard_normal((channels, rank))
    offset = rng.standard_normal((channels, 1, 1))
    out = []
    for _ in range(n):
        base = np.cumsum(np.cumsum(rng.standard_normal((rank, *size)), 1), 2)
        out.append((np.einsum('cr,rhw->chw', mix, base) + offset).astype(np.float32))
    return out


def test_channel_pca_recovers_the_subspace_and_saves_what_it_fitted(tmp_path):
    """The fit of fcm-vvc-pca's basis: k = rank keeps all the variance and restores the
    features exactly, k < rank keeps less; a fit is reproducible (signs fixed); the file
    loads back to the same basis (fingerprint included); bad files name what is wrong."""
    from mmdicm.baselines import ChannelPCA, ChannelStats
    rng = np.random.default_rng(3)
    feats = _low_rank(rng, n=4)
    stats = ChannelStats()
    for f in feats:
        stats.update(f)
    basis = stats.fit(3)
    assert (basis.k, basis.channels) == (3, 24) and basis.explained == pytest.approx(1, abs=1e-9)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(3), atol=1e-5)
    new = _low_rank(np.random.default_rng(3), n=5)[-1]  # same mix, unseen maps
    y = basis.project(new)
    assert y.shape == (3, 10, 12)
    np.testing.assert_allclose(basis.restore(y), new, atol=1e-3 * np.abs(new).max())
    smaller = stats.fit(2)
    assert smaller.explained < 0.999
    assert np.abs(smaller.restore(smaller.project(new)) - new).max() > 1e-2
    again = ChannelStats()
    for f in feats:
        again.update(f)
    assert again.fit(3).fingerprint == basis.fingerprint
    path = basis.save(str(tmp_path / 'basis'))  # no .npz added
    loaded = ChannelPCA.load(path)
    assert loaded.fingerprint == basis.fingerprint and loaded.explained == pytest.approx(1)
    with pytest.raises(FileNotFoundError, match='no channel basis at'):
        ChannelPCA.load(str(tmp_path / 'missing.npz'))
    (tmp_path / 'junk.npz').write_bytes(b'not a basis')
    with pytest.raises(ValueError, match='junk.npz is not a channel basis'):
        ChannelPCA.load(str(tmp_path / 'junk.npz'))
    with pytest.raises(ValueError, match='k = 25 components of 24 channels'):
        stats.fit(25)
    with pytest.raises(ValueError, match='takes \\(24, H, W\\)'):
        basis.project(new[:5])
    with pytest.raises(ValueError, match='22 channels after 24'):
        stats.update(new[:22])


@needs_vvc
def test_the_reduced_codec_codes_k_components_names_its_basis_and_counts_it():
    """fcm-vvc-pca: the file is a 10-byte header (input channels, basis fingerprint) + an
    fcm-vvc file of the k components; it decodes to the input's channels, near the input at
    a low QP and in far fewer bytes than coding every channel; another basis' file, a cut
    file and a codec without a basis are refused in one line."""
    from mmdicm.baselines import ChannelStats
    rng = np.random.default_rng(4)
    feats = _low_rank(rng, channels=24, rank=3, size=(16, 16), n=3)
    stats = ChannelStats()
    for f in feats[:2]:
        stats.update(f)
    basis = stats.fit(4)
    codec = get_feature_codec('fcm-vvc-pca', basis=basis)
    f = feats[2]
    data = codec.encode(f, qp=12)
    assert codec.side_info_bytes(data) == 10 + 12 + 8
    g = codec.decode(data)
    assert g.shape == f.shape and np.abs(g - f).max() < 0.05 * (f.max() - f.min())
    assert len(data) < len(get_feature_codec('fcm-vvc').encode(f, qp=12)) / 2
    other = ChannelStats()
    other.update(feats[2])
    with pytest.raises(CodecError, match='coded with another channel basis'):
        get_feature_codec('fcm-vvc-pca', basis=other.fit(4)).decode(data)
    for bad in (data[:6], b'XXXX' + data[4:], data[:10 + 12 + 8]):
        with pytest.raises(CodecError, match='fcm-vvc'):
            codec.decode(bad)
    with pytest.raises(ValueError, match='no channel basis'):
        get_feature_codec('fcm-vvc-pca').encode(f, 30)
    with pytest.raises(ValueError, match=r'must be \(24, H, W\)'):
        codec.encode(f[:8], 30)
