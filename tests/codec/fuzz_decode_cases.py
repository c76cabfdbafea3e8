"""Crafted containers with valid CRCs, for test_decode_fuzz.py (a helper, not a test file)."""
import random
from typing import List, Tuple

import torch

from mmdicm.codec import DICMFeatureCodec, pack, unpack

_SMALL = dict(re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
              net=dict(mid_channels=16, latent_channels=32, hyper_channels=16,
                       hyper_dim=32, hyper_heads=2, gl_size=(8, 5)),
              in_channels=32)
#: the codecs fuzzed: small widths of the default preset ('release': the context model's two
#: checkerboard passes, y in 2 sections) and of 'mmdicm-v1' (the hyperprior, y in 1), and
#: the released widths of each
WIDTHS = {
    'small': dict(_SMALL, net=dict(_SMALL['net'], context=dict(depth=1, num_heads=2,
                                                               head_dim=16, topk=8))),
    'small-v1': dict(_SMALL, preset='mmdicm-v1'),
    'released': {},
    'released-v1': dict(preset='mmdicm-v1'),
}


def build_codec(widths: str) -> DICMFeatureCodec:
    """The same codec in every process: seeded weights, entropy tables updated."""
    torch.manual_seed(0)
    codec = DICMFeatureCodec(**WIDTHS[widths]).eval()
    codec.update(force=True)
    return codec


def valid_containers(codec: DICMFeatureCodec, sides=(64, 128)) -> List[bytes]:
    """Real containers: one per padded side (images of side x side - 3)."""
    torch.manual_seed(1)
    out = []
    for side in sides:
        f1 = torch.randn(1, codec.in_channels, side // 4, side // 4) * 2
        out += codec.encode(f1, [(side - 3, side - 3)])
    return out


def _mutate_string(rng: random.Random, s: bytes, other: bytes) -> Tuple[str, bytes]:
    n = len(s)
    kind = rng.choice(['empty', 'cut', 'cut4', 'random', 'random4', 'extend', 'flip',
                       'swap', 'zeros', 'ones', 'repeat'])
    if kind == 'empty':
        return kind, b''
    if kind == 'cut':
        return kind, s[:rng.randrange(0, max(n, 1))]
    if kind == 'cut4':
        return kind, s[:4 * rng.randrange(0, max(n // 4, 1))]
    if kind == 'random':
        return kind, rng.randbytes(rng.randrange(0, 2 * n + 16))
    if kind == 'random4':
        return kind, rng.randbytes(4 * rng.randrange(0, n // 2 + 8))
    if kind == 'extend':
        return kind, s + rng.randbytes(rng.choice([1, 4, 8, 64]))
    if kind == 'flip':
        b = bytearray(s)
        for _ in range(rng.randint(1, 4)):
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return kind, bytes(b)
    if kind == 'swap':
        return kind, other
    if kind == 'zeros':
        return kind, bytes(rng.choice([0, 4, 8, 12, n]))
    if kind == 'ones':
        return kind, b'\xff' * rng.choice([4, 8, 12, n])
    return kind, (s * 3)[:rng.randrange(n, 3 * n + 1)] if n else b''


def crafted_containers(codec: DICMFeatureCodec, valid: List[bytes], n: int,
                       seed: int = 0) -> List[Tuple[str, bytes]]:
    """``n`` containers with valid CRCs: mutated strings, declared sizes up to the format's
    limit (65536 x 65536), strings of one size under the header of another."""
    rng = random.Random(seed)
    fp = codec.fingerprint()
    total = codec.input_stride * codec.net.stride
    streams = [unpack(v) for v in valid]
    cases = [('valid', v) for v in valid]
    while len(cases) < n:
        base = rng.choice(streams)
        strings = [s for s, in base.sections]  # y's sections (1 or 2 passes), then z
        names = [f'y{i}' for i in range(len(strings) - 1)] + ['z']
        ph, pw = base.padded_size
        what = rng.random()
        if what < 0.6:  # mutate some strings (at least one), sizes unchanged
            kinds = ['keep'] * len(strings)
            for i in rng.sample(range(len(strings)), rng.randint(1, len(strings))):
                kinds[i], strings[i] = _mutate_string(rng, strings[i],
                                                      strings[(i + 1) % len(strings)])
            label = ' '.join(f'{k}:{v}' for k, v in zip(names, kinds))
        else:  # another declared size (consistent z shape), strings real, mutated or empty
            side_h = total * rng.choice([1, 2, 3, 16, 64, 256, 1024])
            side_w = total * rng.choice([1, 2, 5, 16, 64, 256, 1024])
            ph, pw = min(side_h, 65536), min(side_w, 65536)
            if rng.random() < 0.3:
                strings = [b''] * len(strings)
            elif rng.random() < 0.5:
                _, strings[0] = _mutate_string(rng, strings[0], strings[-1])
            label = f'size {ph}x{pw}, ' + ', '.join(f'{k} {len(v)} B'
                                                    for k, v in zip(names, strings))
        h = max(1, ph - rng.randrange(0, total))
        w = max(1, pw - rng.randrange(0, total))
        data = pack(fp, (h, w), [(ph // total, pw // total)], [[s] for s in strings],
                    padded_size=(ph, pw))
        cases.append((label, data))
    return cases
