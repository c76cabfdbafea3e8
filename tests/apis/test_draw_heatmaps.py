"""tools/draw_heatmaps.py and mmdicm.apis.heatmaps: images found, heatmaps of a checkpoint's
backbone drawn into a PNG, errors as one-line messages."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdicm.apis.heatmaps import draw_heatmaps, find_images, load_model
from mmdicm.models.selfsup.moco import DICMMoCoV2  # noqa: F401  (registers it)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'ssl', 'demo', 'stage1_mocov2-ccrop_r18_embedded.py')


pytestmark = pytest.mark.usefixtures('one_thread_module')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp('heatmap_images')
    rng = np.random.default_rng(0)
    for i in range(5):
        img = rng.integers(0, 40, (40 + 8 * i, 60, 3), dtype=np.uint8)
        img[5:25, 10 + 5 * i:30 + 5 * i] = 230
        cv2.imwrite(str(root / f'{i}.png'), img)
    (root / 'notes.txt').write_text('not an image')
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    cfg = Config.fromfile(CONFIG)
    model = load_model(cfg)
    path = str(tmp_path_factory.mktemp('heatmap_ckpt') / 'model.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def test_find_images(images):
    assert [osp.basename(p) for p in find_images(str(images))] == [f'{i}.png' for i in range(5)]
    assert len(find_images(str(images / '*.png'), num=2)) == 2
    assert find_images([str(images / '3.png')]) == [str(images / '3.png')]
    with pytest.raises(FileNotFoundError, match='no image'):
        find_images(str(images / '*.jpg'))
    with pytest.raises(ValueError, match='num'):
        find_images(str(images), num=0)


def test_draw_heatmaps_writes_a_png(images, checkpoint, tmp_path):
    out = str(tmp_path / 'sub' / 'heatmaps.png')
    result = draw_heatmaps(CONFIG, checkpoint, str(images), out, num=4, threshold=0.1)
    assert len(result['paths']) == 4 and result['boxes'].shape == (4, 4)
    boxes = result['boxes']
    assert ((boxes >= 0) & (boxes <= 1)).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    png = cv2.imread(out)
    assert png is not None and png.shape[0] > 100 and png.shape[1] > 100


def test_the_tool(images, checkpoint, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'draw_heatmaps_tool', osp.join(ROOT, 'tools', 'draw_heatmaps.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'grid.png')
    assert tool.main([CONFIG, checkpoint, str(images), out, '--num', '2',
                      '--image-size', '32']) == 0
    assert osp.isfile(out) and 'drew 2 images' in capsys.readouterr().out
    assert tool.main([CONFIG, checkpoint, str(tmp_path / 'none'), out]) == 2
    assert 'no image' in capsys.readouterr().err
