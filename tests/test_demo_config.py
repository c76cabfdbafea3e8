"""The CPU demo config trains and evaluates a stock Mask R-CNN on DICM features end to end."""
import os.path as osp

from mmdicm.datasets import generate_embedded_dataset
from mmdicm.engine.launch import build_runner, prepare_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_dicm_r18_embedded.py')


def test_demo_config_trains_and_evaluates_a_few_iterations(tmp_path):
    data = tmp_path / 'embedded'
    generate_embedded_dataset(str(data), num_train=4, num_val=2, image_size=128, seed=0)
    root = str(data) + '/'
    loader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                  dataset=dict(data_root=root))
    cfg = prepare_config(DEMO, work_dir=str(tmp_path / 'work'), cfg_options={
        'train_dataloader': loader, 'val_dataloader': loader, 'test_dataloader': loader,
        'val_evaluator.ann_file': root + 'annotations/instances_val.json',
        'test_evaluator.ann_file': root + 'annotations/instances_val.json',
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)],
        'default_hooks.checkpoint.interval': 2,
        # an untrained model may score every box below the default 0.05, and CocoMetric
        # reports nothing for an empty result: keep all boxes so the metric always runs
        'model.test_cfg.rcnn.score_thr': 0.0,
        'randomness': dict(seed=0),
        'experiment_name': f'demo-{tmp_path.name}'})
    runner = build_runner(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('train/loss_rate', 'train/bpp', 'train/loss_aux', 'train/loss_mask'):
        assert key in hub.log_scalars, key
    assert hub.get_scalar('train/bpp').current() > 0
    assert 'val/coco/bbox_mAP' in hub.log_scalars and 'val/coco/segm_mAP' in hub.log_scalars
    assert (tmp_path / 'work' / 'iter_2.pth').exists()
    codec = runner.model.backbone.codec
    assert codec.net.entropy_bottleneck._quantized_cdf.numel() > 0  # updated before val
