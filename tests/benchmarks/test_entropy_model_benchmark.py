"""The entropy-model benchmark on a tiny model: both models timed by stage, bad input refused."""
import pytest

from mmdicm.benchmarks import format_entropy_model_benchmark, run_entropy_model_benchmark

TINY = dict(re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
            net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
                     hyper_heads=2, gl_size=(8, 5), context=dict(depth=1, num_heads=2,
                                                                 head_dim=8)),
            in_channels=32)


def test_both_entropy_models_are_timed_by_stage():
    result = run_entropy_model_benchmark(size='64x128', repeats=1, threads=1, codec_cfg=TINY)
    hp, cm = result['models']['hyperprior'], result['models']['context_mixture']
    for res in (hp, cm):
        assert res['encode_s'] > 0 and res['decode_s'] > 0 and res['bytes'] > 0
        for key in ('encode', 'decode'):
            parts = res[f'{key}_parts_s']
            assert sum(parts.values()) == pytest.approx(res[f'{key}_s'])
    assert {'context', 'param_net', 'tables', 'rans', 'h_s'} <= set(cm['decode_parts_s'])
    assert 'context' not in hp['decode_parts_s']
    assert cm['bytes'] - cm['payload_bytes'] == 81 and hp['bytes'] - hp['payload_bytes'] == 75
    text = format_entropy_model_benchmark(result)
    assert 'context_mixture' in text and 'decode total' in text and '  context' in text


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='multiple of 64'):
        run_entropy_model_benchmark(size='100x64')
    with pytest.raises(ValueError, match='models must be some of'):
        run_entropy_model_benchmark(size='64x64', models=['autoregressive'])
