"""mmdicm.benchmarks.entropy_rate: the rate is the real containers' bytes, the distortion
NMSE(f3, f2) of the decoded features; BD-rate of a curve against itself is zero."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmdicm.benchmarks.entropy_rate import (STAGE4_DEMO, bd_rate_saving,
                                            measure_rate_distortion)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

pytestmark = pytest.mark.usefixtures('one_thread_module')


@pytest.mark.parametrize('entropy_model', ['hyperprior', 'context_mixture'])
def test_rate_is_the_real_bytes_and_distortion_the_decoded_features(tmp_path, entropy_model):
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from PIL import Image
    from skimage import data
    config = osp.join(ROOT, STAGE4_DEMO)
    cfg = Config.fromfile(config)
    cfg.model.backbone.codec.net = dict(entropy_model=entropy_model)
    torch.manual_seed(0)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model).eval()
    model.backbone.codec.update(force=True)
    ckpt = str(tmp_path / 'm.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    paths = []
    for name in ('astronaut', 'coffee'):
        paths.append(str(tmp_path / f'{name}.png'))
        Image.fromarray(getattr(data, name)()).save(paths[-1])
    out = measure_rate_distortion(config, ckpt, entropy_model, paths, size=64)
    bits, nmse = 0, []
    for path in paths:  # the same measurement by hand: the real containers, decoded
        img = np.asarray(Image.open(path).convert('RGB').resize((64, 64), Image.BICUBIC))
        pre = model.data_preprocessor  # RGB already: only the normalisation
        x = (torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float()
             - pre.mean.reshape(1, 3, 1, 1)) / pre.std.reshape(1, 3, 1, 1)
        with torch.no_grad():
            f1 = model.backbone.forward_head(x)
            data = model.backbone.codec.encode(f1, [(64, 64)])
            f3 = model.backbone.codec.decode(data)[0]
            f2 = model.backbone.codec(f1)['f2']
        bits += 8 * len(data[0])
        nmse.append(float(((f3 - f2)**2).mean() / f2.var()))
    assert out['bpp'] == pytest.approx(bits / (2 * 64 * 64))
    assert out['nmse'] == pytest.approx(np.mean(nmse), rel=1e-5)
    assert out['quality_db'] == pytest.approx(-10 * np.log10(out['nmse']))


def test_bd_rate_of_a_curve_against_itself_and_a_cheaper_one():
    ref = [dict(bpp=b, quality_db=q) for b, q in ((0.5, 10.), (1., 12.), (2., 14.),
                                                  (4., 16.))]
    assert bd_rate_saving(ref, ref) == pytest.approx(0., abs=1e-9)
    half = [dict(bpp=p['bpp'] / 2, quality_db=p['quality_db']) for p in ref]
    assert bd_rate_saving(ref, half) == pytest.approx(-50., abs=1e-6)
