"""A test-only hook that training subprocesses load (``custom_imports``), not a test module.

``TrainProbeHook`` writes what the tests compare across processes, as JSON in ``out_dir``:

- ``probe_iter_<k>.json`` when the checkpoint of iteration k is saved: estimated bpp and
  real containers of a fixed batch, computed by the live training model right after the
  entropy tables were refreshed for that checkpoint (written before the ``.pth`` file, so
  a checkpoint on disk always has its probe);
- ``rank_<r>.json`` after training: sha256 of every parameter, the last logged losses,
  the iteration reached.

``sleep`` seconds after every iteration keep a tiny run alive long enough to be killed
mid-run.

``SleepingTransform`` (a pipeline step) writes ``<marker_dir>/worker_<pid>`` and sleeps: a
dataloader worker busy in ``__getitem__`` when its trainer is killed.
"""
import json
import math
import os
import time

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, TRANSFORMS

from dicm_tiny import fixed_batch_probe, param_digest


def _write_json(path: str, data: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.replace(tmp, path)


@HOOKS.register_module()
class TrainProbeHook(Hook):
    priority = 'LOW'  # after EntropyUpdateHook (NORMAL) refreshed the tables

    def __init__(self, out_dir: str, sleep: float = 0.) -> None:
        self.out_dir = out_dir
        self.sleep = sleep
        os.makedirs(out_dir, exist_ok=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        it = checkpoint['meta']['iter']
        _write_json(os.path.join(self.out_dir, f'probe_iter_{it}.json'),
                    fixed_batch_probe(runner.model))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.sleep:
            time.sleep(self.sleep)

    def after_train(self, runner) -> None:
        hub = runner.message_hub
        losses = {k[len('train/'):]: hub.get_scalar(k).current() for k in hub.log_scalars
                  if k.startswith('train/') and 'loss' in k}
        _write_json(os.path.join(self.out_dir, f'rank_{get_rank()}.json'),
                    dict(params=param_digest(runner.model), losses=losses, iter=runner.iter,
                         finite=all(math.isfinite(v) for v in losses.values())))


@TRANSFORMS.register_module()
class SleepingTransform:

    def __init__(self, marker_dir: str, seconds: float) -> None:
        self.marker_dir = marker_dir
        self.seconds = seconds

    def __call__(self, results: dict) -> dict:
        open(os.path.join(self.marker_dir, f'worker_{os.getpid()}'), 'w').close()
        time.sleep(self.seconds)
        return results
