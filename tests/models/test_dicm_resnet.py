"""DICMResNet: ResNet contract, checkpoint compatibility, freezing, real coding."""
import re

import pytest
import torch
from mmdet.models.backbones import ResNet

from mmdicm.codec import BitstreamError
from mmdicm.models import DICMResNet, DICMResNetV1d

TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))


def tiny(depth=18, **kwargs):
    torch.manual_seed(0)
    return DICMResNet(depth=depth, **{'codec': TINY_CODEC, **kwargs})


@pytest.mark.parametrize('cls, depth', [(DICMResNet, 18), (DICMResNet, 50),
                                        (DICMResNetV1d, 18)])
@pytest.mark.parametrize('hw', [(64, 64), (100, 70), (37, 129)])
def test_output_shapes_match_the_stock_resnet(cls, depth, hw):
    stock_cls = ResNet
    kwargs = dict(deep_stem=True, avg_down=True) if cls is DICMResNetV1d else {}
    stock = stock_cls(depth=depth, **kwargs)
    torch.manual_seed(0)
    model = cls(depth=depth, codec=dict(
        re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
        net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
                 hyper_heads=2, gl_size=(8, 5))))
    x = torch.rand(1, 3, *hw)
    with torch.no_grad():
        ours, theirs = model(x), stock(x)
    assert isinstance(ours, tuple)
    assert [o.shape for o in ours] == [t.shape for t in theirs]


def test_without_codec_it_is_the_stock_resnet():
    stock = ResNet(depth=18)
    model = DICMResNet(depth=18, codec=None)
    model.load_state_dict(stock.state_dict())
    model.eval()
    stock.eval()  # (mmdet's ResNet.train returns None, so no chaining)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(model(x), stock(x)):
            assert torch.equal(a, b)


def test_split_stage_and_out_indices():
    model = tiny(split_stage=1, out_indices=(1, 3))
    assert model.codec.in_channels == 128 and model.codec.input_stride == 8
    assert model.pad_multiple == 128
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 512]


@pytest.mark.parametrize('kwargs, match', [
    (dict(split_stage=4), 'split_stage'),
    (dict(split_stage=-1), 'split_stage'),
    (dict(split_stage=1, out_indices=(0, 1)), r'out_indices \[0\] precede'),
    (dict(frozen_parts=('decoder', )), 'frozen_parts'),
    (dict(codec=dict(in_channels=256)), 'codec.in_channels=256'),
    (dict(codec=dict(input_stride=8)), 'codec.input_stride=8'),
    (dict(codec=dict(re=dict(hidden_channels=-3))), 'hidden_channels'),
])
def test_bad_configs_fail_at_build_time_naming_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DICMResNet(depth=18, **kwargs)


def test_standard_resnet50_checkpoint_loads_into_head_and_tail(tmp_path):
    import torchvision
    reference = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path / 'resnet50.pth'
    torch.save(reference, path)
    model = DICMResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    ours = model.state_dict()
    for key, value in reference.items():
        if key.startswith('fc.'):
            assert key not in ours
            continue
        assert torch.equal(ours[key], value), key
    missing = set(ours) - set(reference)
    assert missing and all(k.startswith('codec.') for k in missing), sorted(missing)[:5]


def test_frozen_parts_get_no_gradient_and_stay_in_eval():
    model = tiny(frozen_parts=('head', 'net'))
    model.train()
    outs = model(torch.rand(2, 3, 64, 64))
    loss = sum(o.mean() for o in outs) + sum(
        -torch.log2(v).sum() for v in model.last_likelihoods.values()) * 1e-4
    loss.backward()
    for part, frozen in (('head', True), ('net', True), ('re', False), ('tail', False)):
        for m in model.part_modules(part):
            assert m.training is not frozen, part
            for name, p in m.named_parameters():
                if name.endswith('quantiles'):
                    continue
                assert (p.grad is None) is frozen, f'{part}.{name}'


def _edge_state(model):
    return {f'{i}.{k}': v.detach().clone() for i, m in enumerate(model.part_modules('edge'))
            for k, v in m.state_dict().items()}


@pytest.mark.parametrize('preset', ['release', 'mmdicm-v1'])
def test_a_frozen_edge_keeps_every_bit_deciding_weight_and_the_receiver_learns(preset):
    """A task stage (frozen_parts=('edge',)): after optimizer steps on the task and rate
    losses, every weight and buffer that decides the bits is bit-identical (so is the
    fingerprint every container carries, the entropy tables after update() included), while
    g_s and the tail changed."""
    model = tiny(frozen_parts=('edge', ), codec=dict(TINY_CODEC, preset=preset))
    with torch.no_grad():  # y carries information (untrained, it rounds to 0 and g_s's first
        # layer gets no gradient for its weight)
        [m for m in model.codec.net.g_a if isinstance(m, torch.nn.Conv2d)][-1].weight.mul_(50)
    model.update(force=True)
    before, fp = _edge_state(model), model.edge_fingerprint()
    receiver = {k: v.clone() for k, v in model.state_dict().items()
                if k.startswith(('codec.net.g_s.', 'layer2.', 'layer4.'))}
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(2):
        outs = model(torch.rand(2, 3, 64, 64))
        loss = sum(o.square().mean() for o in outs) + sum(
            -torch.log2(v).sum() for v in model.last_likelihoods.values()) * 1e-4
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.update(force=True)  # what EntropyUpdateHook does before val and checkpoints
    after = _edge_state(model)
    assert after.keys() == before.keys() and len(after) > 50
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert model.edge_fingerprint() == fp
    # convolutions (norms behind zero-initialised last BNs / tiny layer scales may not move
    # in two steps)
    convs = [k for k in receiver if re.search(r'(\.conv\d\.weight|g_s\.\d\.weight)$', k)]
    assert len(convs) > 10
    for k in convs:
        assert not torch.equal(receiver[k], model.state_dict()[k]), k
    assert all(not m.training for m in model.part_modules('edge'))
    assert model.codec.net.g_s.training and model.layer2.training


def test_the_fingerprint_covers_the_head_and_not_g_s():
    model = tiny()
    model.update(force=True)
    fp = model.edge_fingerprint()
    with torch.no_grad():
        model.codec.net.g_s[0].weight.add_(1.0)  # a receiver-side change
    assert model.edge_fingerprint() == fp
    for tensor in (model.layer1[0].conv1.weight, model.codec.net.g_a[1].weight,
                   model.codec.net.entropy_bottleneck.quantiles):
        with torch.no_grad():
            tensor.add_(0.01)
        assert model.edge_fingerprint() != fp
        fp = model.edge_fingerprint()
    files = model.eval().compress(torch.rand(1, 3, 64, 64))
    other = tiny()  # same init, but its head was not changed
    other.update(force=True)
    with pytest.raises(BitstreamError, match='fingerprint mismatch'):
        other.decompress(files)


#: the entropy models' keys per preset: the release's context model and parameter network
#: decide the bits (they are part of 'entropy', so of 'edge'); mmdicm-v1's Gaussian
ENTROPY_KEYS = {'release': ('codec.net.entropy_bottleneck.', 'codec.net.context_mixture.'),
                'mmdicm-v1': ('codec.net.entropy_bottleneck.', 'codec.net.gaussian_conditional.')}


@pytest.mark.parametrize('preset', ['release', 'mmdicm-v1'])
@pytest.mark.parametrize('part, prefixes', [
    ('g_a', ('codec.net.g_a.', )), ('h_s', ('codec.net.h_s.', )), ('entropy', ()),
    ('edge', ('conv1.', 'bn1.', 'layer1.', 'codec.re.', 'codec.net.g_a.', 'codec.net.h_a.',
              'codec.net.h_s.'))])
def test_part_modules_cover_exactly_their_keys(part, prefixes, preset):
    if part in ('entropy', 'edge'):
        prefixes = prefixes + ENTROPY_KEYS[preset]
    model = tiny(codec=dict(TINY_CODEC, preset=preset))
    ids = {id(p) for m in model.part_modules(part) for p in m.parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in ids}
    assert names and all(n.startswith(prefixes) for n in names), sorted(names)[:3]
    expected = {n for n, _ in model.named_parameters() if n.startswith(prefixes)}
    assert names == expected


def test_likelihoods_and_pixels_of_the_last_forward():
    model = tiny().train()
    model(torch.rand(2, 3, 50, 60))
    assert set(model.last_likelihoods) == {'re', 'y', 'z'}
    assert model.last_num_pixels == 2 * 50 * 60
    # padded to 64x64 inside: y is at 1/16 of the padded image
    assert model.last_likelihoods['y'].shape[-2:] == (4, 4)


def test_real_coding_in_eval_gives_the_estimate_paths_features():
    model = tiny(out_indices=(0, 1, 2, 3)).eval()
    model.update(force=True)
    x = torch.rand(2, 3, 70, 90)
    with torch.no_grad():
        estimated = model(x)
        model.real_coding = True
        coded = model(x)
    assert len(model.last_bitstreams) == 2 and all(len(b) > 75 for b in model.last_bitstreams)
    for a, b in zip(estimated, coded):
        assert torch.equal(a, b)
    # and the split API: edge compress, receiver decompress, same features again
    decoded = model.decompress(model.compress(x))
    for a, b in zip(decoded, coded):
        assert torch.equal(a, b)


def test_receiver_rejects_streams_of_another_model():
    a, b = tiny().eval(), tiny(depth=34).eval()
    torch.manual_seed(3)
    b.codec.net.h_s[0].bias.data.normal_()
    a.update(force=True)
    b.update(force=True)
    with pytest.raises(BitstreamError, match='fingerprint'):
        b.decompress(a.compress(torch.rand(1, 3, 64, 64)))


def test_task_models_of_one_edge_write_and_read_the_same_files():
    """Two task models that share the edge (a detector's and a classifier's task stage after
    one stage 4) but differ in g_s and tail: compress gives byte-identical containers, and
    each decodes the other's; a model with another edge refuses them, naming both digests."""
    first, second = tiny(), tiny()
    with torch.no_grad():
        for p in list(second.codec.net.g_s.parameters()) + list(second.layer3.parameters()):
            p.add_(torch.randn_like(p) * 0.1)  # another task's receiver side
    for m in (first, second):
        m.eval().update(force=True)
    images = torch.rand(2, 3, 64, 96)
    files = first.compress(images)
    assert files == second.compress(images)
    assert first.edge_fingerprint() == second.edge_fingerprint()
    for reader in (first, second):
        outs = reader.decompress(files)
        assert [o.shape for o in outs] == [o.shape for o in reader(images)]
    other = tiny()
    with torch.no_grad():
        other.codec.net.h_a[0].weight.add_(0.01)  # another stage 4
    other.eval().update(force=True)
    with pytest.raises(BitstreamError, match=f'written by model {first.edge_fingerprint().hex()}'
                                             f', this model is {other.edge_fingerprint().hex()}'):
        other.decompress(files)


def test_context_mixture_nets_are_part_of_the_edge():
    """With entropy_model='context_mixture' the context model and parameter network decide
    the bits: they belong to 'entropy' (so to 'edge', frozen by task stages) and to the
    edge fingerprint."""
    torch.manual_seed(0)
    net = dict(TINY_CODEC['net'], entropy_model='context_mixture',
               context=dict(depth=1, num_heads=2, head_dim=8))
    model = DICMResNet(depth=18, codec=dict(TINY_CODEC, net=net), frozen_parts=('edge', ))
    ids = {id(p) for m in model.part_modules('entropy') for p in m.parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in ids}
    assert any(n.startswith('codec.net.context_mixture.context_model.') for n in names)
    assert any(n.startswith('codec.net.context_mixture.param_net.') for n in names)
    assert not model.codec.net.context_mixture.param_net[0].weight.requires_grad
    model.update(force=True)
    fp = model.edge_fingerprint()
    with torch.no_grad():
        model.codec.net.context_mixture.context_model.embed.bias.add_(0.01)
    assert model.edge_fingerprint() != fp
    files = model.eval().compress(torch.rand(1, 3, 64, 64))
    outs = model.decompress(files)
    assert len(model.codec.parse(files[0]).sections) == 3 and len(outs) == 4
