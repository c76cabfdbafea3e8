# Rate sweep on the COCO-like split, task-stage curve (tools/rate_sweep.py --task
# detection-coco-like --task-stage-iters N): per λ, the paper's task stage on that λ's frozen
# edge. The sweep loads the λ's merged checkpoint (the task model + the codec trained under it)
# with load_from; everything that decides the bits (stem, layer1, g_a, h_a, h_s, entropy
# models) stays as it was, the receiver (g_s, tail, FPN, heads) trains under the detection
# losses on the decoded features. The edge's bits cannot change (a test checks it).
_base_ = './faster-rcnn_dicm_r18_coco-like.py'

model = dict(backbone=dict(codec=dict(re=None),  # mmdicm: the sweep's codec (no RE)
                           frozen_parts=('edge', )))  # mmdicm: the bits stay the codec's
# mmdicm: fine-tuning a trained receiver: 1/10 of the from-scratch lr, cosine, no val (the
# sweep tests once with real coding)
max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=10**9)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
                        T_max=max_iters, eta_min=2e-5)]
# (g_s keeps the base's lr/10, as the from-stage4 task configs; the frozen parts get no
# gradient)
optim_wrapper = dict(optimizer=dict(lr=0.002))
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
