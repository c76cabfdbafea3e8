"""`make demo` end to end at toy scale: data -> untrained eval -> train -> trained eval, real
bitstreams, summary; plus the demo config through the Runner with validation."""
import os.path as osp

import pytest

from mmdicm.apis import DEMO_CONFIG, format_summary, learned, run_demo
from mmdicm.codec import read as read_bitstream
from mmdicm.datasets import generate_embedded_dataset
from mmdicm.apis.launch import build_runner, prepare_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_dicm_r18_embedded.py')

# toy scale: tiny loaders; an untrained model may score every box below the default 0.05 and
# CocoMetric then reports nothing: keep all boxes so the metric always runs
TOY = {f'{split}_dataloader.{key}': value for split in ('train', 'val', 'test')
       for key, value in (('batch_size', 2), ('num_workers', 0),
                          ('persistent_workers', False))}
TOY['model.test_cfg.rcnn.score_thr'] = 0.0


def test_the_shipped_demo_config_is_the_packaged_one():
    assert osp.realpath(DEMO_CONFIG) == DEMO


def test_run_demo_at_toy_scale(tmp_path):
    result = run_demo(work_dir=str(tmp_path / 'work'), data_root=str(tmp_path / 'data'),
                      max_iters=2, num_train=4, num_val=2, image_size=128,
                      cfg_options=TOY, log=lambda msg: None)
    for name in ('untrained', 'trained'):
        metrics = result[name]
        assert {'coco/bbox_mAP', 'coco/segm_mAP', 'dicm/bpp'} <= set(metrics), metrics
        assert metrics['dicm/num_images'] == 2 and metrics['dicm/bpp'] > 0
    assert osp.isfile(result['checkpoint']) and result['checkpoint'].endswith('iter_2.pth')
    assert osp.isdir(result['log_dir'])
    # the trained pass kept one container per val image, and they are what bpp counts
    assert result['num_bitstreams'] == 2
    files = [osp.join(result['bitstreams'], f'{i:06d}.dicm') for i in (1, 2)]
    sizes = [osp.getsize(f) for f in files]
    assert result['trained']['dicm/bytes_per_image'] == pytest.approx(sum(sizes) / 2)
    assert read_bitstream(files[0]).image_size[0] % 32 == 0  # padded batch of 128-px images
    text = format_summary(result)
    assert 'untrained' in text and 'trained (2 it)' in text and result['bitstreams'] in text
    assert ('learned:' in text) == learned(result)


def test_demo_tool_rejects_bad_arguments(capsys):
    import runpy
    main = runpy.run_path(osp.join(ROOT, 'tools', 'demo.py'))['main']
    with pytest.raises(SystemExit):
        main(['--max-iters', '0'])
    assert '--max-iters must be >= 1' in capsys.readouterr().err


def test_demo_config_trains_and_validates_a_few_iterations(tmp_path):
    data = tmp_path / 'embedded'
    generate_embedded_dataset(str(data), num_train=4, num_val=2, image_size=128, seed=0)
    root = str(data) + '/'
    ann = root + 'annotations/instances_val.json'
    options = dict(TOY)
    options.update({f'{split}_dataloader.dataset.data_root': root
                    for split in ('train', 'val', 'test')})
    options.update({
        'val_evaluator.0.ann_file': ann, 'test_evaluator.0.ann_file': ann,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)],
        'default_hooks.checkpoint.interval': 2,
        'randomness': dict(seed=0),
        'experiment_name': f'demo-{tmp_path.name}'})
    runner = build_runner(prepare_config(DEMO, work_dir=str(tmp_path / 'work'),
                                         cfg_options=options))
    runner.train()
    hub = runner.message_hub
    for key in ('train/loss_rate', 'train/bpp', 'train/loss_aux', 'train/loss_mask'):
        assert key in hub.log_scalars, key
    assert hub.get_scalar('train/bpp').current() > 0
    for key in ('val/coco/bbox_mAP', 'val/coco/segm_mAP', 'val/dicm/bpp'):
        assert key in hub.log_scalars, key
    assert (tmp_path / 'work' / 'iter_2.pth').exists()
    codec = runner.model.backbone.codec
    assert codec.net.entropy_bottleneck._quantized_cdf.numel() > 0  # updated before val
