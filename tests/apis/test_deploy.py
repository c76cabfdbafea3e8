"""tools/compress.py and tools/analyze.py (mmdicm.apis.deploy): images -> container files ->
predictions without pixels, on the demo Mask R-CNN shrunk to a tiny codec (random weights)
and four scikit-image photos; plus a tiny mmpretrain classifier."""
import csv
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdicm.apis.deploy import (MANIFEST_CSV, MANIFEST_JSON, DeployError, analyze_bitstreams,
                                bit_allocation, compress_images, find_images, load_deploy_model,
                                render_bit_map)
from mmdicm.codec import pack, unpack
from mmdicm.engine import likelihood_bpp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_dicm_r18_embedded.py')
COMPRESS = runpy.run_path(osp.join(ROOT, 'tools', 'compress.py'))['main']
ANALYZE = runpy.run_path(osp.join(ROOT, 'tools', 'analyze.py'))['main']

#: the tiny codec of tests/engine/test_hooks.py
TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))
#: tiny codec, 128-px test inputs, and every box kept (random weights score low)
OPTIONS = {
    'model.backbone.codec': TINY_CODEC,
    'test_dataloader.dataset.pipeline.1.scale': (128, 128),
    'model.test_cfg.rcnn.score_thr': 0.0,
}
CLI_OPTIONS = ['--cfg-options', 'model.backbone.codec.re.hidden_channels=16',
               'model.backbone.codec.re.latent_channels=16',
               'model.backbone.codec.re.depths=(1,1,1)', 'model.backbone.codec.net.mid_channels=16',
               'model.backbone.codec.net.latent_channels=32',
               'model.backbone.codec.net.hyper_channels=16',
               'model.backbone.codec.net.hyper_dim=32', 'model.backbone.codec.net.hyper_heads=2',
               'model.backbone.codec.net.gl_size=(8,5)',
               'test_dataloader.dataset.pipeline.1.scale=(128,128)',
               'model.test_cfg.rcnn.score_thr=0.0']
CLASSES = ('circle', 'triangle', 'rectangle', 'star')
PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket')


pytestmark = pytest.mark.usefixtures('one_thread_module')


def _save_random_model(config, path, seed, options, scope, meta=None):
    """A randomly initialised model with fresh entropy tables, saved as a checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    model.backbone.update(force=True)
    torch.save(dict(state_dict=model.state_dict(), meta=meta or {}), path)
    return path


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    """Photos (<= 96 px), a COCO json of them, checkpoints of two random models."""
    import cv2
    from skimage import data
    root = tmp_path_factory.mktemp('deploy')
    images = root / 'images'
    images.mkdir()
    coco = dict(images=[], annotations=[],
                categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)])
    for i, name in enumerate(PHOTOS):
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = 96 / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(images / f'{name}.png'), img[..., ::-1])
        h, w = img.shape[:2]
        coco['images'].append(dict(id=10 + i, file_name=f'{name}.png', height=h, width=w))
        x, y, bw, bh = w / 4, h / 4, w / 2, h / 2
        coco['annotations'].append(dict(
            id=i + 1, image_id=10 + i, category_id=1 + i % 4, bbox=[x, y, bw, bh],
            area=bw * bh, iscrowd=0,
            segmentation=[[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]))
    ann = root / 'instances.json'
    ann.write_text(json.dumps(coco))
    meta = dict(dataset_meta=dict(classes=CLASSES))
    ckpt = _save_random_model(DEMO, str(root / 'model.pth'), 0, OPTIONS, 'mmdet', meta)
    other = _save_random_model(DEMO, str(root / 'other.pth'), 1, OPTIONS, 'mmdet', meta)
    return dict(root=root, images=str(images), ann=str(ann), ckpt=ckpt, other=other)


@pytest.fixture(scope='module')
def deploy(work):
    return load_deploy_model(DEMO, work['ckpt'], OPTIONS)


@pytest.fixture(scope='module')
def compressed(work, deploy):
    """compress_images on the folder, with bit maps."""
    out = str(work['root'] / 'bitstreams')
    result = compress_images(deploy, find_images(work['images']), out, bit_map=True,
                             progress=False)
    assert result.exit_code == 0, result.failures
    return result


def bit_allocation_of(deploy, entry):
    """:func:`bit_allocation` of a manifest entry's image, as compress_images computes it."""
    from mmengine.dataset import pseudo_collate
    data = deploy.test_pipeline()(dict(img_path=entry['image'], img_id=entry['img_id']))
    batch = deploy.model.data_preprocessor(pseudo_collate([data]), False)
    return bit_allocation(deploy.backbone, batch['inputs'])


def _snapshot(folder):
    return {n: open(osp.join(folder, n), 'rb').read() for n in sorted(os.listdir(folder))}


# ---------------------------------------------------------------------- compress -> analyze
def test_predictions_from_files_equal_the_in_memory_real_coding_eval(work, deploy, compressed,
                                                                     tmp_path):
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    out = str(tmp_path / 'preds.json')
    result = analyze_bitstreams(deploy, compressed.out_dir, out, progress=False)
    assert result.exit_code == 0 and not result.failures
    assert result.files == [f'{n}.dicm' for n in PHOTOS]

    # the in-memory eval path: stock mmdet inference on the image files, the same test
    # pipeline, backbone.real_coding=True (rANS encode -> bytes -> decode inside forward)
    model = deploy.model
    assert model.backbone.real_coding
    model.cfg = deploy.cfg
    paths = [osp.join(work['images'], f'{n}.png') for n in PHOTOS]
    for path, sample in zip(paths, result.samples):
        with DefaultScope.overwrite_default_scope('mmdet'):
            ref = inference_detector(model, path)
        # the containers the eval path coded are byte-identical to the files
        stem = osp.splitext(osp.basename(path))[0]
        with open(osp.join(compressed.out_dir, f'{stem}.dicm'), 'rb') as f:
            assert model.backbone.last_bitstreams == [f.read()]
        got, exp = sample.pred_instances, ref.pred_instances
        assert len(exp) == 20  # score_thr 0: max_per_img detections
        for key in ('bboxes', 'scores', 'labels', 'masks'):
            assert torch.equal(got[key], exp[key]), key
        for key in ('ori_shape', 'img_shape', 'scale_factor', 'pad_shape', 'batch_input_shape'):
            assert sample.metainfo[key] == ref.metainfo[key], key

    # COCO results json: one record per instance, xywh boxes in original pixels, RLE masks
    with open(out) as f:
        records = json.load(f)
    assert len(records) == 20 * len(PHOTOS)
    first = result.samples[0].pred_instances
    x1, y1, x2, y2 = first.bboxes[0].tolist()
    assert records[0]['image_id'] == 0 and records[0]['bbox'] == pytest.approx(
        [x1, y1, x2 - x1, y2 - y1])
    assert records[0]['category_id'] == int(first.labels[0])  # no COCO categories: index
    assert records[0]['score'] == pytest.approx(float(first.scores[0]))
    assert set(records[0]['segmentation']) == {'size', 'counts'}
    assert records[0]['segmentation']['size'] == [96, 96]  # astronaut: original size
    summary = json.load(open(result.summary_path))
    assert summary['num_analyzed'] == 4 and summary['num_failed'] == 0


def test_manifest_rates_are_the_file_sizes(compressed, work):
    out = compressed.out_dir
    manifest = json.load(open(osp.join(out, MANIFEST_JSON)))
    assert manifest == compressed.manifest
    assert manifest['headline_bpp'] == 'bpp_original'
    assert len(manifest['images']) == len(PHOTOS)
    for entry in manifest['images']:
        size = osp.getsize(osp.join(out, entry['file']))
        (oh, ow), (ih, iw) = entry['original_hw'], entry['input_hw']
        assert entry['bytes'] == size
        assert entry['bpp_original'] == pytest.approx(8 * size / (oh * ow))
        assert entry['bpp_input'] == pytest.approx(8 * size / (ih * iw))
        assert max(oh, ow) == 96 and max(ih, iw) == 128  # resized by the test pipeline
        assert entry['coded_hw'][0] % 32 == 0 and entry['padded_hw'][0] % 64 == 0
    total = sum(osp.getsize(osp.join(out, e['file'])) for e in manifest['images'])
    t = manifest['totals']
    assert t['bytes'] == total and t['num_images'] == 4
    assert t['bpp_original'] == pytest.approx(8 * total / t['original_pixels'])
    assert t['bpp_input'] == pytest.approx(8 * total / t['input_pixels'])
    with open(osp.join(out, MANIFEST_CSV), newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['file'] for r in rows] == [e['file'] for e in manifest['images']]
    assert [int(r['bytes']) for r in rows] == [e['bytes'] for e in manifest['images']]
    assert float(rows[0]['bpp_original']) == manifest['images'][0]['bpp_original']


def test_rerun_is_bit_exact(compressed, deploy, work, tmp_path):
    again = compress_images(deploy, find_images(work['images']), str(tmp_path / 'again'),
                            bit_map=True, progress=False)
    first, second = _snapshot(compressed.out_dir), _snapshot(again.out_dir)
    assert first == second  # containers, bit maps and manifests alike
    # and in place with --overwrite: every byte the same
    compress_images(deploy, find_images(work['images']), compressed.out_dir, overwrite=True,
                    bit_map=True, progress=False)
    assert _snapshot(compressed.out_dir) == first


def test_compress_writes_the_same_files_whatever_task_checkpoint_of_one_edge(work, compressed,
                                                                           tmp_path):
    """Another task model of the same edge (its g_s, tail and heads differ, the edge is the
    same): compress writes byte-identical containers."""
    ckpt = torch.load(work['ckpt'], map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    changed = [k for k in state if k.startswith(('backbone.codec.net.g_s.', 'backbone.layer3.',
                                                 'roi_head.')) and state[k].is_floating_point()]
    assert len(changed) > 20
    for k in changed:
        state[k] = state[k] + 0.05
    other = str(tmp_path / 'other_task.pth')
    torch.save(ckpt, other)
    out = tmp_path / 'again'
    assert COMPRESS([DEMO, other, work['images'], str(out), '--no-progress'] + CLI_OPTIONS) == 0
    ours = {n: b for n, b in _snapshot(compressed.out_dir).items() if n.endswith('.dicm')}
    theirs = {n: b for n, b in _snapshot(str(out)).items() if n.endswith('.dicm')}
    assert ours and ours == theirs


def test_files_of_another_edge_are_refused_up_front(work, compressed, tmp_path, capsys):
    """A task model trained on another edge: analyze refuses the whole folder with one line
    naming both digests, exit 1, and writes no predictions."""
    other = load_deploy_model(DEMO, work['other'], OPTIONS)
    theirs = tmp_path / 'theirs'
    compress_images(other, find_images(work['images']), str(theirs), progress=False)
    out = tmp_path / 'p.json'
    code = ANALYZE([DEMO, work['ckpt'], str(theirs), str(out), '--no-progress'] + CLI_OPTIONS)
    err = capsys.readouterr().err.strip().splitlines()
    ours = load_deploy_model(DEMO, work['ckpt'], OPTIONS).fingerprint().hex()
    assert code == 1 and len(err) == 1 and not out.exists()
    assert f'written by edge {other.fingerprint().hex()}' in err[0]
    assert f'trained on edge {ours}' in err[0]


def test_files_coded_from_other_pixels_are_refused_up_front(work, compressed, tmp_path,
                                                            capsys):
    """The same edge weights, but a task model whose preprocessor normalises otherwise:
    analyze refuses the folder with one line naming both, exit 1, no predictions."""
    manifest = json.loads(open(osp.join(compressed.out_dir, MANIFEST_JSON)).read())
    assert manifest['input_normalisation']['mean'] == [123.675, 116.28, 103.53]
    out = tmp_path / 'p.json'
    other = CLI_OPTIONS + ['model.data_preprocessor.mean=[0,0,0]']
    code = ANALYZE([DEMO, work['ckpt'], compressed.out_dir, str(out), '--no-progress'] + other)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and not out.exists()
    assert "'mean': [123.675, 116.28, 103.53]" in err[0] and "'mean': [0.0, 0.0, 0.0]" in err[0]


def test_manifest_is_the_same_bytes_whatever_the_hash_seed(work, tmp_path):
    """mmengine collects metainfo keys in a set: the manifest writes them sorted, so two
    processes with other hash seeds write identical manifests (and containers)."""
    outs = []
    for seed in ('1', '2'):
        out = tmp_path / f'seed{seed}'
        env = dict(os.environ, PYTHONHASHSEED=seed, OMP_NUM_THREADS='1')
        proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'compress.py'), DEMO,
                               work['ckpt'], work['images'], str(out), '--no-progress']
                              + CLI_OPTIONS, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(_snapshot(str(out)))
    assert outs[0] == outs[1] and any(k.endswith('manifest.json') for k in outs[0])


def test_compress_refuses_to_overwrite_and_writes_nothing(compressed, deploy, work, capsys,
                                                         tmp_path):
    before = _snapshot(compressed.out_dir)
    argv = [DEMO, work['ckpt'], work['images'], compressed.out_dir, '--no-progress']
    # the command line with --overwrite rewrites the very same bytes
    assert COMPRESS(argv + ['--overwrite', '--bit-map'] + CLI_OPTIONS) == 0
    assert f'4 image(s) -> {compressed.out_dir}' in capsys.readouterr().out
    assert _snapshot(compressed.out_dir) == before
    assert COMPRESS(argv + CLI_OPTIONS) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and '--overwrite' in err[0]
    assert _snapshot(compressed.out_dir) == before
    # a single clashing file is enough: no container is written either
    partial = tmp_path / 'partial'
    partial.mkdir()
    (partial / MANIFEST_JSON).write_text('{}')
    with pytest.raises(DeployError, match='1 output file'):
        compress_images(deploy, find_images(work['images']), str(partial))
    assert os.listdir(partial) == [MANIFEST_JSON]


# ---------------------------------------------------------------------- broken and foreign files
def test_analyze_reports_corrupted_truncated_and_foreign_files(compressed, work, capsys,
                                                               tmp_path):
    folder = tmp_path / 'mixed'
    shutil.copytree(compressed.out_dir, folder)
    flipped = bytearray((folder / 'astronaut.dicm').read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    (folder / 'astronaut.dicm').write_bytes(bytes(flipped))
    data = (folder / 'chelsea.dicm').read_bytes()
    (folder / 'chelsea.dicm').write_bytes(data[:len(data) - 7])
    # coffee.dicm from a model with other weights (another fingerprint)
    other = load_deploy_model(DEMO, work['other'], OPTIONS)
    assert other.fingerprint() != load_deploy_model(DEMO, work['ckpt'], OPTIONS).fingerprint()
    foreign = tmp_path / 'foreign'
    compress_images(other, find_images(work['images']), str(foreign), progress=False)
    shutil.copy(foreign / 'coffee.dicm', folder / 'coffee.dicm')
    # a valid CRC around a y string cut short (what crashed CompressAI's decoder)
    s = unpack((folder / 'rocket.dicm').read_bytes())
    (folder / 'short.dicm').write_bytes(pack(s.fingerprint, s.image_size, s.latent_shapes,
                                             [[s.sections[0][0][:8]]] + list(s.sections[1:]),
                                             s.padded_size))

    out = tmp_path / 'mixed.json'
    code = ANALYZE([DEMO, work['ckpt'], str(folder), str(out), '--no-progress'] + CLI_OPTIONS)
    assert code == 1
    text = capsys.readouterr().out
    assert '1/5 file(s) analysed' in text and '4 file(s) FAILED' in text
    lines = {ln.split(':')[0].strip(): ln for ln in text.splitlines() if '.dicm:' in ln}
    assert 'CRC mismatch' in lines['astronaut.dicm']
    assert 'truncated' in lines['chelsea.dicm']
    assert 'fingerprint mismatch' in lines['coffee.dicm']
    assert 'invalid bitstream: y anchor string: string ends' in lines['short.dicm']
    assert 'Traceback' not in text
    # the intact file was still analysed
    records = json.load(open(out))
    assert records and {r['image_id'] for r in records} == {3}  # rocket
    summary = json.load(open(str(out)[:-5] + '.summary.json'))
    assert [f['file'] for f in summary['failures']] == ['astronaut.dicm', 'chelsea.dicm',
                                                         'coffee.dicm', 'short.dicm']
    assert summary['rate']['bytes'] == osp.getsize(folder / 'rocket.dicm')


# ---------------------------------------------------------------------- bit-allocation map
def test_bit_map_size_units_and_total(compressed, deploy, work):
    from mmengine.dataset import pseudo_collate
    from PIL import Image
    backbone = deploy.backbone
    for entry in compressed.manifest['images']:
        png = Image.open(osp.join(compressed.out_dir, entry['bit_map']))
        oh, ow = entry['original_hw']
        assert png.size == (ow, oh)
        assert np.asarray(png)[..., 3].min() == 255  # opaque
        assert 'bits per original-image pixel' in png.text['Description']
        grid = np.load(osp.join(compressed.out_dir, entry['bit_grid']))
        ph, pw = entry['padded_hw']
        assert grid.shape == (ph // 16, pw // 16)  # one value per y position (stride 16)
        assert grid.sum() == pytest.approx(entry['estimated_bits'], rel=1e-5)
        # the picture spreads each position over its 16x16 pixels: summed over the original
        # image it holds the bits of the input region (the grid minus the padding's cells)
        ih, iw = entry['input_hw']
        _, density, _ = render_bit_map(bit_allocation_of(deploy, entry), (ih, iw), (oh, ow))
        inside = np.repeat(np.repeat(grid, 16, 0), 16, 1)[:ih, :iw].sum() / 256
        assert density.sum() == pytest.approx(inside, rel=0.02)
        assert inside > 0.5 * grid.sum()
        # the likelihood estimate of the model's own eval forward (no real coding)
        data = deploy.test_pipeline()(dict(img_path=entry['image'], img_id=entry['img_id']))
        batch = deploy.model.data_preprocessor(pseudo_collate([data]), False)
        backbone.real_coding = False
        try:
            with torch.no_grad():
                backbone(batch['inputs'])
        finally:
            backbone.real_coding = True
        pixels = backbone.last_num_pixels
        estimate = likelihood_bpp(backbone.last_likelihoods, ('y', 'z'), pixels) * pixels
        assert entry['estimated_bits'] == pytest.approx(estimate.item(), rel=1e-5)
        # and the real payload (file minus the 75-byte container) is close to it
        assert 8 * (entry['bytes'] - 75) == pytest.approx(entry['estimated_bits'], rel=0.1)
    # direct call: one image at a time, eval mode only
    with pytest.raises(ValueError, match='one image'):
        bit_allocation(backbone, torch.zeros(2, 3, 64, 64))


def test_box_shares_count_each_cell_by_its_covered_fraction():
    """box_shares: bits inside the ground-truth boxes against the area they cover, on the
    coded grid (a 2x downscaled image, cell 16, one padding row)."""
    from mmdicm.apis.deploy import BitAllocation, box_shares
    bits = np.ones((4, 4))
    bits[:2, :2] = 3.0  # the objects' cells get 3x the bits
    alloc = BitAllocation(bits=bits, y_bits=float(bits.sum()), z_bits=0.0, cell=16)
    # original 96x128 -> input 48x64 (the last grid row is padding)
    out = box_shares(alloc, [[0, 0, 64, 64]], (48, 64), (96, 128))
    assert out['box_area_share'] == pytest.approx(4 / 16)
    assert out['box_bit_share'] == pytest.approx(12 / 24) and out['box_bits'] == 12.0
    # half a cell covered counts half; overlapping boxes count once; boxes are clipped to
    # the image (nothing in the padding row)
    half = box_shares(alloc, [[0, 0, 16, 32], [0, 0, 8, 8], [0, 60, 200, 200]], (48, 64),
                      (96, 128))
    # cell (0, 0) half covered by the first box (the second lies inside it); the third
    # covers input rows 30-47: 2 of the 16 rows of grid row 1, all of grid row 2
    assert half['box_cells'] == pytest.approx(0.5 + 4 * 2 / 16 + 4)
    assert half['box_area_share'] == pytest.approx(5 / 16)
    with pytest.raises(ValueError, match='a box must be finite'):
        box_shares(alloc, [[0, 0, 0, 5]], (48, 64), (96, 128))


def test_box_densities_put_each_box_against_its_image_mean_by_coco_size_class():
    """box_densities: each box's bits per pixel over the image's mean bits per input pixel,
    classed by its COCO area (original pixels), each box alone."""
    from mmdicm.apis.deploy import BitAllocation, SIZE_CLASSES, box_densities
    from mmdicm.apis.deploy.bit_map import size_class
    assert [size_class(a) for a in (1, 32**2 - 1, 32**2, 96**2 - 1, 96**2)] == \
        ['small', 'small', 'medium', 'medium', 'large']
    assert [name for name, _ in SIZE_CLASSES] == ['small', 'medium', 'large']
    bits = np.ones((4, 4))
    bits[0, 0] = 9.0  # one cell of 16x16 input pixels gets 9x the bits
    alloc = BitAllocation(bits=bits, y_bits=float(bits.sum()), z_bits=0.0, cell=16)
    mean = bits.sum() / (64 * 64)  # input 64x64 = original 128x128 / 2
    out = box_densities(alloc, [[0, 0, 32, 32], [0, 0, 64, 32], [64, 64, 64, 64]],
                        [500.0, 5000.0, 20000.0], (64, 64), (128, 128))
    assert [name for name, _ in out] == ['small', 'medium', 'large']
    assert out[0][1] == pytest.approx((9.0 / 256) / mean)  # cell (0, 0) alone
    assert out[1][1] == pytest.approx((10.0 / 512) / mean)  # cells (0, 0) and (0, 1)
    assert out[2][1] == pytest.approx((4.0 / 1024) / mean)  # four plain cells
    # a box outside the input counts nowhere; one area per box
    assert box_densities(alloc, [[200, 200, 10, 10]], [100.0], (64, 64), (128, 128)) == []
    with pytest.raises(ValueError, match='one area per box'):
        box_densities(alloc, [[0, 0, 4, 4]], [], (64, 64), (128, 128))


def test_a_bad_box_in_the_coco_json_is_skipped_not_fatal(work, tmp_path):
    """The boxes only feed the bit map's in-box share: a degenerate or malformed one is
    left out, the image is still found (and coded)."""
    coco = json.load(open(work['ann']))
    coco['annotations'] += [dict(id=90, image_id=10, bbox=[1, 1, 0, 5]),
                            dict(id=91, image_id=10, bbox=[1, 'x', 2, 5]),
                            dict(id=92, image_id=10, bbox=None)]
    ann = tmp_path / 'bad_boxes.json'
    ann.write_text(json.dumps(coco))
    records = {r.img_id: r for r in find_images(str(ann), work['images']).records}
    assert len(records) == 4
    assert len(records[10].boxes) == 1 and len(records[11].boxes) == 1


def test_coco_input_bit_maps_report_the_in_box_share(work, deploy, tmp_path, capsys):
    """A COCO json INPUT with --bit-map: every entry says how many of its bits fall inside
    its boxes, the totals and the summary aggregate them over every image."""
    from mmdicm.apis.deploy import box_densities, box_shares, format_compress_summary
    from mmdicm.apis.deploy.bit_map import size_class
    out = tmp_path / 'boxes'
    result = compress_images(deploy, find_images(work['ann'], work['images']), str(out),
                             bit_map=True, progress=False)
    coco = json.load(open(work['ann']))
    by_id = {a['image_id']: a['bbox'] for a in coco['annotations']}
    for entry in result.manifest['images']:
        expected = box_shares(bit_allocation_of(deploy, entry), [by_id[entry['img_id']]],
                              entry['input_hw'], entry['original_hw'])
        for key, value in expected.items():
            assert entry[key] == pytest.approx(value, rel=1e-6), key
        assert 0.1 < entry['box_area_share'] < 0.4  # the centre half of each side
    t = result.manifest['totals']
    assert t['box_images'] == 4
    assert t['box_bit_share'] == pytest.approx(
        sum(e['box_bits'] for e in result.manifest['images']) /
        sum(e['estimated_bits'] for e in result.manifest['images']))
    assert f"{100 * t['box_bit_share']:.1f} % of the estimated bits fall inside the " \
           'ground-truth boxes' in format_compress_summary(result)
    # each box's density by its COCO size class (the json's areas), over every image
    areas = {a['image_id']: a['area'] for a in coco['annotations']}
    ratios = []
    for entry in result.manifest['images']:
        expected = box_densities(bit_allocation_of(deploy, entry), [by_id[entry['img_id']]],
                                 [areas[entry['img_id']]], entry['input_hw'],
                                 entry['original_hw'])
        assert [n for n, _ in entry['box_density']] == [n for n, _ in expected]
        assert [r for _, r in entry['box_density']] == pytest.approx([r for _, r in expected])
        ratios += [r for _, r in expected]
    (name, density), = t['box_density'].items()
    assert name == size_class(areas[10]) and density['boxes'] == 4
    assert density['median'] == pytest.approx(float(np.median(ratios)))
    assert f"{name} {density['median']:.2f}x (n=4)" in format_compress_summary(result)


# ---------------------------------------------------------------------- metrics vs tools/test.py
def test_coco_input_and_metrics_match_the_runner_test(work, deploy, tmp_path):
    """COCO json in, CocoMetric out: the same numbers (and bpp) as the stock test loop with
    real coding at batch size 1."""
    from mmdicm.apis.launch import build_runner, prepare_config
    out = tmp_path / 'coco'
    compressed = compress_images(deploy, find_images(work['ann'], work['images']), str(out),
                                 progress=False)
    assert [e['img_id'] for e in compressed.manifest['images']] == [10, 11, 12, 13]
    assert compressed.manifest['categories'][0] == dict(id=1, name='circle')
    result = analyze_bitstreams(deploy, str(out), str(tmp_path / 'coco.json'),
                                ann_file=work['ann'], progress=False)
    assert result.exit_code == 0
    records = json.load(open(tmp_path / 'coco.json'))
    assert {r['category_id'] for r in records} <= {1, 2, 3, 4}

    options = dict(OPTIONS)
    options.update({
        'test_dataloader.batch_size': 1, 'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': '', 'test_dataloader.dataset.ann_file': work['ann'],
        'test_dataloader.dataset.data_prefix': dict(img=work['images'] + '/'),
        'test_evaluator.0.ann_file': work['ann'],
        'experiment_name': f'deploy-{tmp_path.name}'})
    runner = build_runner(prepare_config(DEMO, work_dir=str(tmp_path / 'work'),
                                         cfg_options=options, checkpoint=work['ckpt']))
    metrics = runner.test()
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'):
        assert result.metrics[key] == metrics[key], key
    assert result.rate['bpp_input'] == pytest.approx(metrics['dicm/bpp'])
    assert result.rate['bytes'] == compressed.manifest['totals']['bytes']


# ---------------------------------------------------------------------- argument errors
@pytest.mark.parametrize('tool, argv, message', [
    ('compress', ['missing.py', '{ckpt}', '{images}', '{tmp}/o'], 'config file not found'),
    ('compress', [DEMO, '{tmp}/missing.pth', '{images}', '{tmp}/o'], 'checkpoint not found'),
    ('compress', [DEMO, '{ckpt}', '{tmp}/nothing', '{tmp}/o'], 'input not found'),
    ('compress', [DEMO, '{ckpt}', '{tmp}', '{tmp}/o'], 'no image files'),
    ('compress', [DEMO, '{ckpt}', '{images}', '{tmp}/o', '--bit-map-alpha', '2'],
     'bit-map-alpha'),
    ('compress', [DEMO, '{tmp}/garbage.pth', '{images}', '{tmp}/o'], 'cannot load checkpoint'),
    ('analyze', [DEMO, '{ckpt}', '{tmp}/nothing', '{tmp}/p.json'], 'input folder not found'),
    ('analyze', [DEMO, '{ckpt}', '{tmp}', '{tmp}/p.json'], 'no .dicm files'),
    ('analyze', [DEMO, '{ckpt}', '{tmp}', '{tmp}/p.json', '--ann-file', '{tmp}/a.json'],
     'annotation file not found'),
])
def test_bad_arguments_are_one_line_errors(tool, argv, message, work, tmp_path, capsys):
    (tmp_path / 'garbage.pth').write_bytes(b'not a checkpoint')
    argv = [a.format(ckpt=work['ckpt'], images=work['images'], tmp=tmp_path) for a in argv]
    main = COMPRESS if tool == 'compress' else ANALYZE
    assert main(argv + ['--no-progress'] + CLI_OPTIONS) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], err
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'p.json').exists()


def test_checkpoint_of_another_architecture_is_refused(work):
    with pytest.raises(DeployError, match='does not fit the model'):
        load_deploy_model(DEMO, work['ckpt'], {**OPTIONS, 'model.neck.out_channels': 64,
                                               'model.rpn_head.in_channels': 64})


# ---------------------------------------------------------------------- a classifier
CLASSIFIER_CONFIG = """
custom_imports = dict(imports=['mmdicm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='DICMResNet', depth=18, out_indices=(3, ), codec=%r),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=512),
    data_preprocessor=dict(num_classes=3, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))
test_dataloader = dict(dataset=dict(type='CustomDataset', metainfo=dict(classes=('a', 'b', 'c')),
    pipeline=[dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=72),
              dict(type='CenterCrop', crop_size=64), dict(type='PackInputs')]))
""" % (TINY_CODEC, )


def test_classifier_files_to_scores_and_accuracy(work, tmp_path):
    from mmengine.dataset import pseudo_collate
    config = tmp_path / 'cls.py'
    config.write_text(CLASSIFIER_CONFIG)
    ckpt = _save_random_model(str(config), str(tmp_path / 'cls.pth'), 0, {}, 'mmpretrain')
    model = load_deploy_model(str(config), ckpt)
    assert model.task == 'classification' and model.dataset_meta['classes'] == ('a', 'b', 'c')
    out = tmp_path / 'bits'
    compress_images(model, find_images(work['images']), str(out), progress=False)
    labels = tmp_path / 'labels.txt'
    labels.write_text(''.join(f'{n}.png {i % 3}\n' for i, n in enumerate(PHOTOS)))
    result = analyze_bitstreams(model, str(out), str(tmp_path / 'scores.json'),
                                ann_file=str(labels), progress=False)
    assert result.exit_code == 0 and set(result.metrics) == {'accuracy/top1'}
    records = json.load(open(tmp_path / 'scores.json'))
    assert [r['file'] for r in records] == [f'{n}.dicm' for n in PHOTOS]
    hits = 0
    model.backbone.real_coding = True  # the in-memory eval path, real coding inside forward
    pipeline = model.test_pipeline()
    for i, (name, record, sample) in enumerate(zip(PHOTOS, records, result.samples)):
        data = pipeline(dict(img_path=osp.join(work['images'], f'{name}.png')))
        ref = model.model.test_step(pseudo_collate([data]))[0]
        assert torch.equal(sample.pred_score, ref.pred_score)
        assert record['pred_label'] == int(ref.pred_label) and record['pred_class'] in 'abc'
        hits += int(ref.pred_label) == i % 3
    assert result.metrics['accuracy/top1'] == pytest.approx(100 * hits / len(PHOTOS))


def test_a_top_level_data_preprocessor_is_the_models(tmp_path):
    """mmpretrain configs put ``data_preprocessor`` at the top level and the Runner merges it
    into the model: so does load_deploy_model (it built an un-normalising one before, so a
    classifier config's edge coded raw pixels, not what its model trained on)."""
    config = tmp_path / 'cls.py'
    inner = ("    head=dict(type='LinearClsHead', num_classes=3, in_channels=512),\n"
             "    data_preprocessor=dict(num_classes=3, mean=[123.675, 116.28, 103.53],\n"
             "                           std=[58.395, 57.12, 57.375], to_rgb=True))")
    assert inner in CLASSIFIER_CONFIG
    config.write_text(CLASSIFIER_CONFIG.replace(inner, inner.split('\n')[0][:-1] + ')')
                      + 'data_preprocessor = dict(num_classes=3, mean=[1, 2, 3], std=[4, 5, 6],'
                      ' to_rgb=True)\n')
    ckpt = _save_random_model(str(config), str(tmp_path / 'cls.pth'), 0, {}, 'mmpretrain')
    norm = load_deploy_model(str(config), ckpt).input_normalisation()
    assert norm == dict(channel_swap=True, mean=[1.0, 2.0, 3.0], std=[4.0, 5.0, 6.0])


# ---------------------------------------------------------------------- odd inputs
def test_an_unreadable_image_fails_alone(work, deploy, tmp_path):
    images = tmp_path / 'images'
    shutil.copytree(work['images'], images)
    (images / 'broken.png').write_bytes(b'\x89PNG not really')
    result = compress_images(deploy, find_images(str(images)), str(tmp_path / 'out'),
                             progress=False)
    assert result.exit_code == 1
    assert [osp.basename(p) for p, _ in result.failures] == ['broken.png']
    assert result.failures[0][1] == 'not an image: no image format recognised in its 15 bytes'
    assert result.manifest['totals']['num_images'] == 4
    assert result.manifest['failures'][0]['image'].endswith('broken.png')
    assert not (tmp_path / 'out' / 'broken.dicm').exists()


def test_bad_and_tiny_images_fail_alone_with_one_line_each(work, deploy, tmp_path):
    """Each bad file is skipped with what is wrong (not OpenCV's ``!buf.empty()`` assertion or
    mmcv's ``failed to load image``); images under the codec's stride are refused, not
    upscaled (a 1x1 image was coded at 128x128); the good ones are still coded."""
    import cv2
    images = tmp_path / 'images'
    shutil.copytree(work['images'], images)
    ok, jpeg = cv2.imencode('.jpg', cv2.imread(str(images / 'astronaut.png')))
    assert ok
    jpeg = jpeg.tobytes()
    (images / 'empty.jpg').write_bytes(b'')
    (images / 'cut.jpg').write_bytes(jpeg[:len(jpeg) // 2])  # cut in the scan data
    (images / 'header.jpg').write_bytes(jpeg[:100])  # cut in the header
    (images / 'notes.png').write_text('not an image at all\n')
    cv2.imwrite(str(images / 'dot.png'), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(images / 'strip.png'), np.zeros((3, 5, 3), np.uint8))
    result = compress_images(deploy, find_images(str(images)), str(tmp_path / 'out'),
                             progress=False)
    assert result.exit_code == 1
    assert result.manifest['totals']['num_images'] == 4  # the good ones
    stride = deploy.codec_stride
    assert stride == 64  # 4 (stem) x 16 (g_a and h_a)
    reasons = {osp.basename(p): r for p, r in result.failures}
    n = len(jpeg)
    assert reasons['empty.jpg'] == 'empty file (0 bytes)'
    assert reasons['cut.jpg'].startswith(f'truncated or corrupt JPEG file ({n // 2} bytes): ')
    assert reasons['header.jpg'].startswith('truncated or corrupt JPEG file (100 bytes): ')
    assert reasons['notes.png'] == 'not an image: no image format recognised in its 20 bytes'
    for name, size in (('dot.png', '1x1'), ('strip.png', '5x3')):
        assert reasons[name] == (
            f'image is {size} px (width x height), below the minimum side of {stride} px '
            "(the codec's stride): not coded, the test pipeline would upscale it "
            '(--min-side 0 codes it anyway)')
    assert all('\n' not in r for r in reasons.values())
    assert sorted(os.listdir(tmp_path / 'out')) == sorted(
        [MANIFEST_CSV, MANIFEST_JSON] + [f'{p}.dicm' for p in PHOTOS])
    # min_side=0 codes the tiny ones anyway (and the manifest shows what that costs)
    for name in ('empty.jpg', 'cut.jpg', 'header.jpg', 'notes.png'):
        (images / name).unlink()
    result = compress_images(deploy, find_images(str(images)), str(tmp_path / 'out0'),
                             progress=False, min_side=0)
    assert result.exit_code == 0, result.failures
    dot = next(e for e in result.manifest['images'] if e['file'] == 'dot.dicm')
    assert dot['original_hw'] == [1, 1] and dot['input_hw'] == [128, 128]


def test_compress_tool_prints_one_line_per_bad_image(work, tmp_path, capsys):
    images = tmp_path / 'images'
    images.mkdir()
    shutil.copy(osp.join(work['images'], 'chelsea.png'), images)
    (images / 'empty.jpg').write_bytes(b'')
    code = COMPRESS([DEMO, work['ckpt'], str(images), str(tmp_path / 'out'), '--no-progress',
                     *CLI_OPTIONS])
    assert code == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ['1 image(s) FAILED:', f'  {images / "empty.jpg"}: empty file (0 bytes)']
    with pytest.raises(SystemExit) as info:
        COMPRESS([DEMO, work['ckpt'], str(images), str(tmp_path / 'out2'), '--min-side', '-1'])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        'error: --min-side must be >= 0, got -1')


def test_a_checkpoint_without_entropy_tables_gets_them_computed(work, deploy, tmp_path):
    state = torch.load(work['ckpt'], weights_only=True)['state_dict']
    for key in list(state):
        if key.endswith(('_quantized_cdf', '_offset', '_cdf_length')):
            state[key] = state[key].new_zeros(0)
    path = str(tmp_path / 'no_tables.pth')
    torch.save(dict(state_dict=state), path)
    model = load_deploy_model(DEMO, path, OPTIONS)
    assert model.tables_computed and not deploy.tables_computed
    assert model.fingerprint() == deploy.fingerprint()  # update() is deterministic
    assert model.dataset_meta['classes'] == CLASSES  # from the config without checkpoint meta


def test_find_images_rejects_clashing_names(tmp_path):
    for name in ('a.png', 'a.jpg'):
        (tmp_path / name).write_bytes(b'')
    with pytest.raises(DeployError, match='a.dicm'):
        find_images(str(tmp_path))
    with pytest.raises(DeployError, match='img-prefix'):
        find_images(str(tmp_path), img_prefix=str(tmp_path))


def test_analyze_without_manifest_entry_and_with_a_missing_file(compressed, deploy, tmp_path):
    alone = tmp_path / 'alone'
    alone.mkdir()
    shutil.copy(osp.join(compressed.out_dir, 'rocket.dicm'), alone)
    result = analyze_bitstreams(deploy, str(alone), str(tmp_path / 'alone.json'),
                                progress=False)
    assert result.exit_code == 0 and result.files == ['rocket.dicm']
    assert any('without a manifest.json entry' in n for n in result.notes)
    coded = json.load(open(osp.join(compressed.out_dir, MANIFEST_JSON)))['images'][3]['coded_hw']
    assert result.samples[0].ori_shape == tuple(coded)  # coded-input coordinates
    # a file the manifest lists but that is gone is a failure of its own
    gone = tmp_path / 'gone'
    shutil.copytree(compressed.out_dir, gone)
    os.remove(gone / 'chelsea.dicm')
    result = analyze_bitstreams(deploy, str(gone), str(tmp_path / 'gone.json'), progress=False)
    assert result.exit_code == 1 and len(result.files) == 3
    assert result.failures == [('chelsea.dicm', 'listed in manifest.json but missing')]


@pytest.mark.parametrize('tool', ['compress.py', 'analyze.py'])
def test_tools_run_as_scripts(tool):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', tool), '--help'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and '--cfg-options' in proc.stdout
