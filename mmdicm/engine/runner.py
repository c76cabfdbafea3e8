"""``DICMRunner``: mmengine's Runner whose checkpoints load under torch >= 2.6, whose
``pytorch`` launcher also works on CPU-only machines (gloo), whose dataloader workers die
with it, and which builds configs inherited by ``mmdicm::`` as they build in place."""
import copy
import ctypes
import datetime
import os
import signal
import sys
from typing import Any, Callable, Dict, Optional, Union

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from mmengine.dist import is_distributed
from mmengine.model import is_model_wrapper
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from mmengine.runner.runner import ConfigType

from ..mim import drop_scope_tags
from .checkpoint import mmengine_checkpoint_globals

__all__ = ['DICMRunner', 'ExitWithParent']

#: ``prctl`` option: the signal a process gets when the thread that created it exits (Linux)
PR_SET_PDEATHSIG = 1


def _cpu_only() -> bool:
    """No CUDA device (mmengine's launchers would call ``torch.cuda.set_device``)."""
    return not torch.cuda.is_available()


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` through libc; False where that does not exist."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ExitWithParent:
    """A dataloader ``worker_init_fn`` that makes the worker die with the process that started
    it, then runs the loader's own ``worker_init_fn`` (if any).

    torch's workers look for a dead parent only while idle (a watchdog polled every 5 s); a
    worker busy in ``__getitem__`` (a slow transform, a stuck read) outlives a ``kill -9`` of
    the trainer until that call returns, if ever (measured: idle workers went in 4.9 s, two
    sleeping in a transform were still there 5 s later; with this, both went in 0.1 s). On
    Linux this asks the kernel to send the worker SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere it only runs ``worker_init_fn``. The kernel ties
    the signal to the parent *thread* that forked the worker: mmengine's loops create their
    dataloader iterators in the main thread, so that thread lives as long as the run.
    With the ``forkserver`` start method the worker's parent is the fork server, not the
    trainer, and nothing is set.

    Args:
        worker_init_fn (callable, optional): Called with the worker id afterwards.
        parent_pid (int, optional): The trainer's pid; default the current process's (the
            one that builds the loader, as :meth:`DICMRunner.build_dataloader` does).
    """

    def __init__(self, worker_init_fn: Optional[Callable[[int], Any]] = None,
                 parent_pid: Optional[int] = None) -> None:
        self.worker_init_fn = worker_init_fn
        self.parent_pid = os.getpid() if parent_pid is None else parent_pid

    def __call__(self, worker_id: int) -> None:
        if os.getppid() == self.parent_pid and _set_parent_death_signal(signal.SIGKILL):
            if os.getppid() != self.parent_pid:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGKILL)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)


@RUNNERS.register_module()
class DICMRunner(Runner):
    """mmengine :class:`~mmengine.runner.Runner` that can load its own checkpoints again.

    Identical to the stock Runner except for four things:

    - :meth:`from_cfg` first drops the ``_scope_='mmdicm'`` tags that mmengine gives the
      dicts of a config inherited as ``mmdicm::dicm/...`` (:func:`mmdicm.mim.drop_scope_tags`),
      so they build in the config's ``default_scope``, as when the config is used in place;
    - :meth:`load_checkpoint` (used by ``load_from``, ``resume=True`` and ``--resume``) runs
      inside :func:`mmengine_checkpoint_globals`, which allow-lists for that load only the
      few classes mmengine checkpoints carry;
    - under DDP, ``find_unused_parameters`` defaults to True (see :meth:`wrap_model`);
    - on a machine without CUDA, the ``pytorch`` launcher (torchrun, ``tools/dist_train.sh``)
      starts a **gloo** process group itself and wraps the model in DDP without
      ``device_ids`` (mmengine 0.10.7 calls ``torch.cuda.set_device`` and passes
      ``device_ids=[LOCAL_RANK]``, which both fail on CPU). A configured
      ``env_cfg.dist_cfg.backend='nccl'`` (every model-zoo runtime's) is replaced by gloo
      there, since NCCL needs GPUs. With GPUs nothing changes;
    - the dataloaders it builds get an :class:`ExitWithParent` ``worker_init_fn`` (chained
      with mmengine's seeding one or the config's): on Linux their workers die with the run,
      also after a ``kill -9`` (see :meth:`build_dataloader`).

    Select it with ``runner_type = 'DICMRunner'`` in a config (mmdicm's configs do);
    mmdet's and mmpretrain's stock ``tools/train.py`` honour that key.
    """

    @classmethod
    def from_cfg(cls, cfg: ConfigType) -> 'DICMRunner':
        """mmengine's, on a copy of ``cfg`` without ``_scope_='mmdicm'`` tags."""
        return super().from_cfg(drop_scope_tags(copy.deepcopy(cfg)))

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (mmengine's API)
        with mmengine_checkpoint_globals():
            return super().load_checkpoint(
                filename, map_location=map_location, strict=strict, revise_keys=revise_keys)

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's, with workers that exit when the trainer dies (:class:`ExitWithParent`).

        Only loaders built here from a config get it; a ``DataLoader`` object passed in is
        returned as it is. Without workers (``num_workers=0``) nothing changes.
        """
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if (not isinstance(dataloader, DataLoader) and isinstance(loader, DataLoader)
                and loader.num_workers > 0
                and not isinstance(loader.worker_init_fn, ExitWithParent)):
            loader.worker_init_fn = ExitWithParent(loader.worker_init_fn)
        return loader

    def setup_env(self, env_cfg: Dict) -> None:
        """mmengine's, plus a gloo process group for the ``pytorch`` launcher on CPU."""
        if self.distributed and not is_distributed() and _cpu_only():
            if self.launcher != 'pytorch':
                raise RuntimeError(
                    f'launcher={self.launcher!r} needs CUDA in mmengine 0.10.7; on a CPU-only '
                    "machine use launcher='pytorch' (torchrun / tools/dist_train.sh)")
            dist_cfg = dict(env_cfg.get('dist_cfg', {}))
            backend = dist_cfg.pop('backend', 'gloo')
            if backend == 'nccl':
                backend = 'gloo'
            timeout = dist_cfg.pop('timeout', None)
            if timeout is not None:
                dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
            # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (env:// init)
            torch_dist.init_process_group(backend=backend, rank=int(os.environ['RANK']),
                                          world_size=int(os.environ['WORLD_SIZE']),
                                          **dist_cfg)
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model: nn.Module) -> nn.Module:
        """mmengine's, with ``find_unused_parameters=True`` by default and no GPU ids on CPU.

        A DICM model has parameters that a training step may leave without gradient by
        design: the RE latent's density model while ``lambda_re=0`` (the default: its rate is
        logged, not optimised) and the quantiles while ``aux_weight=0``. DDP then fails on
        the second iteration ("Expected to have finished reduction in the prior
        iteration") unless it looks for unused parameters, so that is the default here; a
        config's own ``find_unused_parameters`` or ``model_wrapper_cfg`` still wins.
        """
        if not self.distributed or is_model_wrapper(model):
            return super().wrap_model(model_wrapper_cfg, model)
        if model_wrapper_cfg is None:  # mmengine's default wrapper, see the docstring
            model_wrapper_cfg = dict(
                type='MMDistributedDataParallel', broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters', True))
        if _cpu_only():
            model_wrapper_cfg = dict(model_wrapper_cfg)
            wrapper = MODEL_WRAPPERS.get(model_wrapper_cfg.get('type',
                                                               'MMDistributedDataParallel'))
            if isinstance(wrapper, type) and issubclass(wrapper, DistributedDataParallel):
                model_wrapper_cfg.setdefault('device_ids', None)
        return super().wrap_model(model_wrapper_cfg, model)
