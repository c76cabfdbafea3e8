"""The learned pixel codec trained here (mbt2018-mean, mmdicm.baselines.learned): training
writes a checkpoint, the codec's bytes are CompressAI's real rANS strings plus a header, the
decode equals the model's estimate path, and a crafted file is a CodecError, never a crash."""
import struct

import numpy as np
import pytest
import torch

from mmdicm.baselines import CodecError, CodecUnavailableError, get_pixel_codec
from mmdicm.baselines.learned import HEADER, load_learned_codec, parse_learned_file
from mmdicm.baselines.learned_training import train_learned_codec

TINY = dict(N=8, M=8, iters=3, batch_size=2, crop=64)

pytestmark = pytest.mark.usefixtures('one_thread_module')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two tiny checkpoints (q1, q2: the second warm-started from the first) on photos."""
    from PIL import Image
    from skimage import data
    root = tmp_path_factory.mktemp('learned')
    (root / 'images').mkdir()
    for name in ('astronaut', 'coffee', 'chelsea'):
        Image.fromarray(getattr(data, name)()[:128, :160]).save(root / 'images' / f'{name}.png')
    ckpts = root / 'ckpts'
    first = train_learned_codec(str(root / 'images'), str(ckpts / 'q1.pth'), 0.002,
                                log=lambda _: None, **TINY)
    second = train_learned_codec(str(root / 'images'), str(ckpts / 'q2.pth'), 0.02,
                                 warm_start=first['checkpoint'], log=lambda _: None, **TINY)
    img = np.asarray(Image.open(root / 'images' / 'coffee.png'))[:70, :90].copy()
    return dict(root=root, dir=str(ckpts), first=first, second=second, img=img)


def test_training_writes_a_checkpoint_with_its_meta(trained):
    model, meta = load_learned_codec(trained['first']['checkpoint'])
    assert (meta['architecture'], meta['N'], meta['M'], meta['lmbda']) == \
        ('mbt2018-mean', 8, 8, 0.002)
    assert meta['num_images'] == 3 and trained['second']['meta']['warm_start'] == \
        trained['first']['checkpoint']
    assert model.gaussian_conditional._quantized_cdf.numel() > 0  # tables saved
    assert len(trained['first']['curve']) == 3


def test_bytes_are_the_real_rans_strings_and_decode_equals_the_estimate_path(trained):
    """The file = header + CompressAI's compress() strings (not a likelihood estimate); the
    decoded image is the eval-mode forward's x_hat (same y_hat), rounded to uint8."""
    codec = get_pixel_codec('mbt2018-mean', checkpoint_dir=trained['dir'])
    img = trained['img']
    data = codec.encode(img, 1)
    model = codec.model(1)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.
    x = torch.nn.functional.pad(x, (0, 128 - 90, 0, 128 - 70), mode='replicate')
    with torch.no_grad():
        strings = model.compress(x)['strings']
        x_hat = model(x)['x_hat']
    assert data == HEADER.pack(b'MSH1', 1, 70, 90, len(strings[1][0])) + strings[1][0] + \
        strings[0][0]
    assert codec.payload_bytes(data) == len(strings[0][0]) + len(strings[1][0])
    decoded, num_bytes = codec.roundtrip(img, 1)
    assert num_bytes == len(data) and decoded.shape == img.shape and decoded.dtype == np.uint8
    expected = (x_hat[0, :, :70, :90].clamp(0, 1) * 255).round().byte().permute(1, 2, 0)
    assert np.array_equal(decoded, expected.numpy())
    # the file names its checkpoint: another quality decodes it with its own model
    assert parse_learned_file(codec.encode(img, 2))[0] == 2


def test_the_sweep_transform_runs_it_and_counts_its_bytes(trained):
    from mmdicm.datasets.transforms import PixelCodecRoundtrip
    t = PixelCodecRoundtrip('mbt2018-mean', 2, codec_kwargs=dict(checkpoint_dir=trained['dir']))
    bgr = np.ascontiguousarray(trained['img'][..., ::-1])
    out = t.transform(dict(img=bgr.copy()))
    codec = get_pixel_codec('mbt2018-mean', checkpoint_dir=trained['dir'])
    assert out['codec_bits'] == 8 * len(codec.encode(trained['img'], 2))
    assert out['codec_payload_bits'] == out['codec_bits'] - 8 * HEADER.size
    assert out['img'].shape == bgr.shape


def test_missing_checkpoints_are_one_line_errors(trained, tmp_path):
    ok, reason = get_pixel_codec('mbt2018-mean', checkpoint_dir=str(tmp_path / 'no')).available()
    assert not ok and 'no trained checkpoints in' in reason and '\n' not in reason
    codec = get_pixel_codec('mbt2018-mean', checkpoint_dir=trained['dir'])
    with pytest.raises(CodecUnavailableError, match=r'quality 3 has no checkpoint .*q3.pth'):
        codec.encode(trained['img'], 3)
    (tmp_path / 'q1.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(CodecUnavailableError, match='cannot read learned-codec checkpoint'):
        get_pixel_codec('mbt2018-mean', checkpoint_dir=str(tmp_path)).encode(trained['img'], 1)


def test_crafted_files_are_codec_errors(trained):
    codec = get_pixel_codec('mbt2018-mean', checkpoint_dir=trained['dir'])
    data = codec.encode(trained['img'], 1)
    rng = np.random.default_rng(0)
    head = HEADER.size
    cases = [data[:5], b'XXXX' + data[4:], data[:5] + struct.pack('>HH', 0, 9) + data[9:],
             data[:5] + struct.pack('>HH', 5000, 9) + data[9:],
             data[:9] + struct.pack('>I', 10**6) + data[head:], data[:4] + b'\x07' + data[5:],
             data[:-3], data + b'\x00' * 5]
    for _ in range(40):  # random strings behind a valid header
        body = rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
        cases.append(data[:9] + struct.pack('>I', len(body) // 2) + body)
    errors = 0
    for case in cases:
        try:
            out = codec.decode(case, size=(70, 90))
            assert out.shape == (70, 90, 3)
        except CodecError as e:
            assert '\n' not in str(e) and str(e).startswith('mbt2018-mean: ')
            errors += 1
    assert errors >= 8


def test_bad_training_arguments(tmp_path, trained):
    with pytest.raises(ValueError, match='multiple of 64'):
        train_learned_codec(str(tmp_path), str(tmp_path / 'q.pth'), 0.01, crop=100)
    with pytest.raises(FileNotFoundError, match='training image folder not found'):
        train_learned_codec(str(tmp_path / 'none'), str(tmp_path / 'q.pth'), 0.01)
    with pytest.raises(ValueError, match='no image of at least 256x256'):
        train_learned_codec(str(trained['root'] / 'images'), str(tmp_path / 'q.pth'), 0.01,
                            crop=256)
    with pytest.raises(ValueError, match='warm_start .* has widths N=8, M=8'):
        train_learned_codec(str(trained['root'] / 'images'), str(tmp_path / 'q.pth'), 0.01,
                            warm_start=trained['first']['checkpoint'], N=16, M=16, iters=1,
                            crop=64)


def test_the_tool_trains_one_checkpoint_per_lambda_from_a_warm_start_and_resumes(trained,
                                                                                  tmp_path):
    """tools/train_learned_codec.py: q1 (smallest λ) .. qK, each from warm_start.pth; a
    second run trains nothing (the files stay as they are)."""
    import os
    import runpy
    main = runpy.run_path(os.path.join(os.path.dirname(__file__), '..', '..', 'tools',
                                       'train_learned_codec.py'))['main']
    out = tmp_path / 'ck'
    argv = [str(trained['root'] / 'images'), str(out), '--lambdas', '0.02', '0.002',
            '--iters', '1', '--warm-start-iters', '2', '--batch-size', '1', '--crop', '64',
            '--N', '8', '--M', '8']
    assert main(argv) == 0
    metas = [load_learned_codec(str(out / f'q{k}.pth'))[1] for k in (1, 2)]
    assert [m['lmbda'] for m in metas] == [0.002, 0.02]
    assert all(m['warm_start'] == str(out / 'warm_start.pth') for m in metas)
    assert load_learned_codec(str(out / 'warm_start.pth'))[1]['iters'] == 2
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    assert main(argv[:2] + ['--lambdas', '0.01', '--crop', '100']) == 2


def test_a_stopped_run_resumes_from_its_partial_state_to_the_same_weights(trained, tmp_path):
    """A run killed after step 2 of 4 and started again continues at step 3 and ends with
    the weights of a run that never stopped; a partial state of other arguments is not
    continued; the partial file goes once the checkpoint is written."""
    images = str(trained['root'] / 'images')
    args = dict(TINY, iters=4)
    whole = train_learned_codec(images, str(tmp_path / 'whole.pth'), 0.01,
                                log=lambda _: None, **args)

    class Killed(Exception):
        pass

    def kill_at_step_2(line):
        if ' 2/4 ' in line:
            raise Killed

    out = tmp_path / 'stopped.pth'
    with pytest.raises(Killed):
        train_learned_codec(images, str(out), 0.01, log=kill_at_step_2, **args)
    assert not out.exists() and (tmp_path / 'stopped.pth.partial').exists()
    lines = []
    resumed = train_learned_codec(images, str(out), 0.01, log=lines.append, **args)
    assert lines[0].startswith('[mbt2018-mean λ=0.01] resuming at step 3 of 4')
    assert [c[0] for c in resumed['curve']] == [1, 2, 3, 4]
    assert resumed['curve'] == whole['curve']
    a, b = load_learned_codec(whole['checkpoint'])[0], load_learned_codec(str(out))[0]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))
    assert not (tmp_path / 'stopped.pth.partial').exists()
    # a partial state of another λ is not continued: the run starts over
    with pytest.raises(Killed):
        train_learned_codec(images, str(tmp_path / 'other.pth'), 0.05, log=kill_at_step_2,
                            **args)
    lines = []
    train_learned_codec(images, str(tmp_path / 'other.pth'), 0.01, log=lines.append, **args)
    assert 'other arguments' in lines[0] and not any('resuming' in x for x in lines)
    c = load_learned_codec(str(tmp_path / 'other.pth'))[0]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 c.state_dict().values()))
