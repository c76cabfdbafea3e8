# What every mmdicm config adds to a model-zoo base (inherit it next to the base).
custom_imports = dict(imports=['mmdicm'], allow_failed_imports=False)  # mmdicm: register DICMResNet, hooks, DICMRunner
runner_type = 'DICMRunner'  # mmdicm: Runner whose checkpoints load under torch >= 2.6 (weights_only)
custom_hooks = [
    # mmdicm: loss_rate = lambda_rate * bpp(y, z) and the quantiles' aux loss, added to the
    # unmodified model's loss dict; bpp logged. Override: --cfg-options custom_hooks.0.lambda_rate=0.02
    dict(type='RateLossHook', lambda_rate=0.08),
    # mmdicm: update(force=True) of the entropy tables before val, test and checkpoint save
    dict(type='EntropyUpdateHook'),
    # mmdicm: tags val/test predictions with the size of their real container (DICMBppMetric);
    # set out_dir to keep the test pass's containers: custom_hooks.2.out_dir=bitstreams
    dict(type='BitstreamRecordHook'),
]
