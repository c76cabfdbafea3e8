"""The bounds-checked rANS decoder against CompressAI's, and the encoder's input guard."""
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from compressai import ans
from compressai.entropy_models import EntropyBottleneck as CAIEntropyBottleneck
from compressai.entropy_models import GaussianConditional as CAIGaussianConditional

from mmdicm.codec import BitstreamError, DICMFeatureCodec, pack, rans, unpack
from mmdicm.codec.entropy import (EntropyBottleneck, GaussianConditional,
                                  resize_entropy_buffers_on_load)

from fuzz_decode_cases import build_codec  # tests/codec


def tables(model):
    return [getattr(model, n).numpy() for n in ('_quantized_cdf', '_cdf_length', '_offset')]


@pytest.fixture(scope='module')
def gaussian():
    gc = GaussianConditional(None)
    gc.update_scale_table(torch.exp(torch.linspace(np.log(0.11), np.log(256), 64)))
    gc.update()
    return gc


def random_symbols(gc, n, seed, spread=3.0):
    """Symbols of n Gaussians with random scales, a few far outside their tables."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.exp(torch.empty(n).uniform_(-2, 5, generator=g))
    values = torch.round(torch.randn(n, generator=g) * scales * spread).int()
    values[::97] *= 50  # bypass-coded values, some of several chunks
    idx = gc.build_indexes(scales).int()
    return values, idx


@pytest.mark.parametrize('seed', range(4))
def test_decode_equals_compressai_symbol_for_symbol(gaussian, seed):
    values, idx = random_symbols(gaussian, 3000, seed)
    cdf, lengths, offsets = tables(gaussian)
    data = ans.RansEncoder().encode_with_indexes(values.tolist(), idx.tolist(), cdf.tolist(),
                                                 lengths.tolist(), offsets.tolist())
    theirs = ans.RansDecoder().decode_with_indexes(data, idx.tolist(), cdf.tolist(),
                                                   lengths.tolist(), offsets.tolist())
    assert theirs == values.tolist()  # the test data round-trips in CompressAI itself
    ours = rans.decode(data, idx.numpy(), cdf, lengths, offsets)
    assert ours.tolist() == theirs
    out = np.empty_like(ours)
    rans.decode_python(data, idx.numpy(), cdf, lengths, offsets, out)
    assert out.tolist() == theirs
    bypassed = (values - torch.from_numpy(offsets)[idx.long()] < 0).sum()
    assert bypassed > 0  # the bypass path was exercised


def test_entropy_models_are_compressai_s_with_the_same_strings(gaussian):
    torch.manual_seed(0)
    ours, theirs = EntropyBottleneck(8), CAIEntropyBottleneck(8)
    theirs.load_state_dict(ours.state_dict())
    for m in (ours, theirs):
        m.update(force=True)
    z = torch.randn(2, 8, 5, 7) * 4
    assert ours.compress(z) == theirs.compress(z)
    s = ours.compress(z)
    assert torch.equal(ours.decompress(s, (5, 7)), theirs.decompress(s, (5, 7)))
    cai = resize_entropy_buffers_on_load(CAIGaussianConditional(None))
    cai.load_state_dict(gaussian.state_dict())
    y, scales = torch.randn(2, 8, 4, 4) * 5, torch.rand(2, 8, 4, 4) * 3 + 0.2
    idx = gaussian.build_indexes(scales)
    s = gaussian.compress(y, idx, means=y * 0.1)
    assert s == cai.compress(y, idx, means=y * 0.1)
    assert torch.equal(gaussian.decompress(s, idx, means=y * 0.1),
                       cai.decompress(s, idx, means=y * 0.1))


@pytest.mark.parametrize('impl', ['c', 'python'])
def test_malformed_strings_are_errors_not_reads_past_the_end(gaussian, impl):
    values, idx = random_symbols(gaussian, 500, 7)
    cdf, lengths, offsets = tables(gaussian)
    data = ans.RansEncoder().encode_with_indexes(values.tolist(), idx.tolist(), cdf.tolist(),
                                                 lengths.tolist(), offsets.tolist())

    def decode(s):
        if impl == 'c':
            return rans.decode(s, idx.numpy(), cdf, lengths, offsets, what='y string')
        out = np.empty(len(idx), np.int32)
        try:
            rans.decode_python(s, idx.numpy(), cdf, lengths, offsets, out)
        except ValueError as e:
            raise BitstreamError(f'y string: {e}') from None
        return out

    assert decode(data).tolist() == values.tolist()
    cases = {
        b'': 'shorter than the 8-byte rANS state',
        data[:5]: 'not a whole number',
        data[:8]: 'ends (before all symbols|inside a bypass value)',
        data[:-4]: 'ends',
        data + bytes(4): 'left over',
        data[:4] + bytes([data[4] ^ 1]) + data[5:]: '',
    }
    for s, message in cases.items():
        with pytest.raises(BitstreamError, match='y string: .*' + message):
            decode(s)


def test_invalid_bypass_length_is_refused():
    # a table of one symbol (0) and the bypass flag (1), each with probability 1/2
    cdf = np.array([[0, 1 << 15, 1 << 16]], np.int32)
    lengths, offsets = np.array([3], np.int32), np.array([0], np.int32)
    enc = ans.RansEncoder().encode_with_indexes([123456], [0], cdf.tolist(), lengths.tolist(),
                                                offsets.tolist())
    assert rans.decode(enc, np.zeros(1, np.int32), cdf, lengths, offsets).tolist() == [123456]
    # a state that decodes the flag, then a bypass count of 15 (CompressAI would keep reading)
    state = (1 << 36) | (1 << 15) | 0xF  # cum = 2**15 + 15 -> flag; then x % 16 = 15
    forged = int(state).to_bytes(8, 'little')
    with pytest.raises(BitstreamError, match='invalid bypass length'):
        rans.decode(forged, np.zeros(1, np.int32), cdf, lengths, offsets)


def test_the_reported_segfault_case_is_a_clean_error():
    codec = build_codec('small-v1')  # the hyperprior's strings (y in one section)
    fp = codec.fingerprint()
    for side in (1024, 128, 256):
        data = pack(fp, (side, side), [(side // 64, side // 64)], [[b''], [b'']], (side, side))
        with pytest.raises(BitstreamError, match='z string: shorter than the 8-byte'):
            codec.decode(data)
    good = codec.encode(torch.randn(1, 32, 32, 32), [(128, 128)])[0]
    s = unpack(good)
    for cut in range(0, 9):
        data = pack(fp, s.image_size, s.latent_shapes, [[s.sections[0][0][:cut]], s.sections[1]],
                    s.padded_size)
        with pytest.raises(BitstreamError, match='y string'):
            codec.decode(data)
    with pytest.raises(BitstreamError, match='y string: bytes left over'):
        codec.decode(pack(fp, s.image_size, s.latent_shapes,
                          [[s.sections[0][0] + b'\0' * 4], s.sections[1]], s.padded_size))


def test_declared_size_is_limited_before_decoding():
    codec = build_codec('small-v1')  # the hyperprior's strings (y in one section)
    fp = codec.fingerprint()
    big = pack(fp, (4096, 4096), [(64, 64)], [[b''], [b'']], (4096, 4096))
    with pytest.raises(BitstreamError, match='exceeds this receiver.s limit of 4194304'):
        codec.decode(big)
    codec.max_pixels = 4096 * 4096  # the documented override: then the strings decide
    with pytest.raises(BitstreamError, match='z string'):
        codec.decode(big)
    codec.max_pixels = 64 * 64
    with pytest.raises(ValueError, match='exceeds max_pixels=4096'):  # the edge refuses too
        codec.encode(torch.randn(1, 32, 32, 32), [(128, 128)])
    with pytest.raises(ValueError, match='max_pixels'):
        DICMFeatureCodec(max_pixels=0)


def test_decode_takes_a_numpy_array_as_one_container():
    codec = build_codec('small-v1')  # the hyperprior's strings (y in one section)
    data = codec.encode(torch.randn(1, 32, 16, 16), [(64, 64)])[0]
    f3, streams = codec.decode(np.frombuffer(data, np.uint8))
    assert torch.equal(f3, codec.decode(data)[0]) and len(streams) == 1


def test_a_receiver_with_other_medians_refuses_the_file():
    codec, other = build_codec('small'), build_codec('small')
    with torch.no_grad():  # z's medians moved after the tables were built
        other.net.entropy_bottleneck.quantiles[:, :, 1] += 0.25
    assert torch.equal(other.net.entropy_bottleneck._quantized_cdf,
                       codec.net.entropy_bottleneck._quantized_cdf)
    data = codec.encode(torch.randn(1, 32, 16, 16), [(64, 64)])[0]
    with pytest.raises(BitstreamError, match='fingerprint'):
        other.decode(data)


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_encode_refuses_non_finite_features(value):
    codec = build_codec('small-v1')  # the hyperprior's strings (y in one section)
    f1 = torch.randn(1, 32, 16, 16)
    f1[0, 3, 4, 5] = value
    start = time.perf_counter()
    with pytest.raises(ValueError, match='f1 has 1 non-finite'):
        codec.encode(f1, [(64, 64)])
    assert time.perf_counter() - start < 1.0


def test_encode_refuses_latents_the_coder_would_spin_on():
    """A latent 2**27 steps outside its table made CompressAI's encoder loop forever; run in
    a child so a regression hangs the child, not the suite."""
    code = '''
import time
import torch
from mmdicm.codec.entropy import EntropyBottleneck, GaussianConditional
eb = EntropyBottleneck(4); eb.update(force=True)
start = time.perf_counter()
z = torch.zeros(1, 4, 8, 8); z[0, 1, 2, 3] = 2.0 ** 28
try:
    eb.compress(z)
except ValueError as e:
    print('refused:', e)
gc = GaussianConditional([0.11, 1.0, 10.0]); gc.update()
y = torch.zeros(1, 4, 8, 8); y[0, 0, 0, 0] = -2.0 ** 29
idx = gc.build_indexes(torch.ones_like(y))
try:
    gc.compress(y, idx)
except ValueError as e:
    print('refused:', e)
y = torch.full((1, 4, 8, 8), 300.0)  # every value bypass-coded: the buffer could overflow
try:
    gc.compress(y, idx)
except ValueError as e:
    print('refused:', e)
print(time.perf_counter() - start)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 4, out.stderr
    assert float(lines[3]) < 1.0  # three refusals within a second, not a spin
    assert 'z latent holds a value' in lines[0] and 'y latent holds a value' in lines[1]
    assert 'too many' in lines[2]


def test_encode_still_codes_moderate_outliers_exactly():
    codec = build_codec('small-v1')  # the hyperprior's strings (y in one section)
    f1 = torch.randn(1, 32, 32, 32)
    f1[0, :, 3:5, 3:5] = 40.0  # far outside what the random model saw: bypass values
    data = codec.encode(f1, [(128, 128)])
    with torch.no_grad():
        assert torch.equal(codec.decode(data)[0], codec(f1)['f3'])


def _mixture_tables(n, seed):
    """Per-symbol tables of random 3-Gaussian mixtures (flat layout) and their symbols,
    some far outside their tables (bypass-coded)."""
    from mmdicm.codec.mixture import GaussianMixtureConditional
    rng = np.random.default_rng(seed)
    params = rng.normal(size=(n, 3, 3))
    params[:, 0] *= 4
    params[::50, 1] += 5  # a few wide ones, capped at MAX_SUPPORT
    tab = GaussianMixtureConditional(3).tables(np.round(params * 256) / 256)
    symbols = np.round(params[:, 0, 0] + rng.normal(size=n) * 3).astype(np.int64)
    symbols[::97] *= 300
    return tab, symbols


@pytest.mark.parametrize('seed', range(3))
def test_array_encoder_writes_compressais_bytes(gaussian, seed):
    """rans.encode (C, NumPy buffers) = CompressAI's RansEncoder, for the shared tables of a
    GaussianConditional and for flat per-symbol tables, bypass values included."""
    values, idx = random_symbols(gaussian, 3000, seed)
    cdf, lengths, offsets = tables(gaussian)
    theirs = ans.RansEncoder().encode_with_indexes(values.tolist(), idx.tolist(), cdf.tolist(),
                                                   lengths.tolist(), offsets.tolist())
    assert rans.encode(values.numpy(), idx.numpy(), cdf, lengths, offsets) == theirs
    tab, symbols = _mixture_tables(4000, seed)
    flat = tab['cdfs'].tolist()
    rows = [flat[s:s + k] for s, k in zip(tab['starts'].tolist(), tab['sizes'].tolist())]
    theirs = ans.RansEncoder().encode_with_indexes(symbols.tolist(), list(range(4000)), rows,
                                                   tab['sizes'].tolist(), tab['offsets'].tolist())
    ours = rans.encode(symbols, np.arange(4000), tab['cdfs'], tab['sizes'], tab['offsets'],
                       starts=tab['starts'])
    assert ours == theirs
    assert (tab['sizes'] == tab['sizes'].max()).any() and len(set(tab['sizes'])) > 5
    decoded = rans.decode(ours, np.arange(4000), tab['cdfs'], tab['sizes'], tab['offsets'],
                          starts=tab['starts'])
    out = np.empty(4000, np.int32)
    rans.decode_python(ours, np.arange(4000, dtype=np.int32), tab['cdfs'], tab['sizes'],
                       tab['offsets'], out, tab['starts'])
    assert decoded.tolist() == out.tolist() == symbols.tolist()


def test_flat_tables_are_checked_and_strings_refused():
    tab, symbols = _mixture_tables(500, 7)
    data = rans.encode(symbols, np.arange(500), tab['cdfs'], tab['sizes'], tab['offsets'],
                       starts=tab['starts'])
    args = (np.arange(500), tab['cdfs'], tab['sizes'], tab['offsets'])
    with pytest.raises(BitstreamError, match='y string: .*(altered|left over|ends)'):
        rans.decode(data[:-4] + bytes(4), *args, what='y string', starts=tab['starts'])
    with pytest.raises(BitstreamError, match='out of bounds'):  # a table past the array's end
        rans.decode(data, *args, starts=tab['starts'] + 10**6)
    with pytest.raises(ValueError, match='out of the coder'):
        rans.encode(np.full(500, 2**31 - 1), np.arange(500), tab['cdfs'], tab['sizes'],
                    tab['offsets'], starts=tab['starts'])
