"""Names that left ``mmdicm.evaluation`` (baselines, their transform, benchmarks) still resolve
there for one release: the same objects, a DeprecationWarning naming the new place, and only
when asked for (``import mmdicm.evaluation`` loads none of them: see
``tests/test_import_surface.py``)."""
import importlib
import sys

import pytest

import mmdicm.evaluation as evaluation
from mmdicm.evaluation import _MOVED

OLD_MODULES = {
    'pixel_codecs': 'mmdicm.baselines',
    'payload': 'mmdicm.baselines.payload',
    'codec_transform': 'mmdicm.datasets.transforms',
    'benchmark': 'mmdicm.benchmarks',
    'pipeline_benchmark': 'mmdicm.benchmarks',
    'train_step_benchmark': 'mmdicm.benchmarks',
}


def test_every_public_name_still_resolves():
    for name in evaluation.__all__:
        if name in _MOVED:
            with pytest.warns(DeprecationWarning, match=f'moved to {_MOVED[name]}.{name}'):
                value = getattr(evaluation, name)
            assert value is getattr(importlib.import_module(_MOVED[name]), name)
        else:
            assert getattr(evaluation, name) is not None
    assert set(_MOVED) <= set(evaluation.__all__) and set(_MOVED) <= set(dir(evaluation))
    with pytest.raises(AttributeError, match='no attribute'):
        evaluation.no_such_name  # noqa: B018


def test_from_import_of_a_moved_name_warns():
    with pytest.warns(DeprecationWarning, match='mmdicm.datasets.transforms.PixelCodecRoundtrip'):
        from mmdicm.evaluation import PixelCodecRoundtrip
    from mmdicm.datasets.transforms import PixelCodecRoundtrip as new
    assert PixelCodecRoundtrip is new


@pytest.mark.parametrize('old, new', sorted(OLD_MODULES.items()))
def test_old_module_paths_are_warning_aliases(monkeypatch, old, new):
    monkeypatch.delitem(sys.modules, f'mmdicm.evaluation.{old}', raising=False)
    with pytest.warns(DeprecationWarning, match=f'mmdicm.evaluation.{old} moved to {new}'):
        alias = importlib.import_module(f'mmdicm.evaluation.{old}')
    target = importlib.import_module(new)
    assert alias.__all__ == target.__all__
    for name in target.__all__:
        assert getattr(alias, name) is getattr(target, name)
