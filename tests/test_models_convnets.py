"""Tests of lecturelib.models.convnets against hand-written torch.nn.functional computations."""

import pytest
import torch
import torch.nn.functional as F

from lecturelib.models.convnets import VGG, BasicBlock, ResNet, SmallCNN, cifar_resnet, vgg9
from lecturelib.models import count_parameters


def _bn_eval(x, bn):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return ((x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
            * bn.weight.view(shape) + bn.bias.view(shape))


def test_basic_block_matches_functional_formula():
    torch.manual_seed(0)
    block = BasicBlock(2, 3, 5, stride=2, skip=True).double().eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2, block.shortcut[1]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    h = F.relu(_bn_eval(F.conv2d(x, block.conv1.weight, stride=2, padding=1), block.bn1))
    h = _bn_eval(F.conv2d(h, block.conv2.weight, padding=1), block.bn2)
    s = _bn_eval(F.conv2d(x, block.shortcut[0].weight, stride=2), block.shortcut[1])
    torch.testing.assert_close(block(x), F.relu(h + s), rtol=1e-10, atol=1e-12)
    plain = BasicBlock(1, 4, 4, skip=False).double().eval()
    z = torch.randn(2, 4, 10, dtype=torch.float64)
    expected = F.relu(_bn_eval(F.conv1d(F.relu(_bn_eval(F.conv1d(z, plain.conv1.weight, padding=1), plain.bn1)),
                                        plain.conv2.weight, padding=1), plain.bn2))
    torch.testing.assert_close(plain(z), expected, rtol=1e-10, atol=1e-12)


def test_resnet_shapes_flat_inputs_and_depth():
    torch.manual_seed(0)
    digits_net = ResNet((1, 8, 8), blocks_per_stage=2, widths=(4, 8))
    assert digits_net(torch.randn(5, 64)).shape == (5, 10)
    assert digits_net(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert digits_net.depth == 10
    signal_net = ResNet((1, 40), blocks_per_stage=1, widths=(4, 8, 16), skip=False)
    assert signal_net(torch.randn(3, 40)).shape == (3, 10)
    assert not any("shortcut" in name for name, _ in signal_net.named_parameters())


def test_cifar_resnet_depths_and_parameter_count():
    for depth in (20, 56, 110):
        net = cifar_resnet(depth)
        convs = sum(1 for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
        assert convs + 1 == depth  # 3x3 convolutions plus the classifier
    # He et al. report 0.27M for ResNet-20 with parameter-free shortcuts; option B adds 1x1 projections
    assert 0.26e6 < count_parameters(cifar_resnet(20)) < 0.28e6
    assert cifar_resnet(20, width_multiplier=2).widths == [32, 64, 128]


def test_vgg9_is_li_et_al_s_network_and_matches_the_functional_formula():
    net = vgg9()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 9 and [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256]
    # by hand: convolutions (3x3 weights and biases) and their batch norms, fc 256*4*4 -> 256 with batch norm, classifier
    channels = [3, 64, 64, 128, 128, 256, 256, 256]
    expected = sum(9 * a * b + b + 2 * b for a, b in zip(channels, channels[1:])) + (256 * 16 * 256 + 256 + 2 * 256) \
        + (256 * 10 + 10)
    assert count_parameters(net) == expected
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10) and net(torch.randn(2, 3072)).shape == (2, 10)
    torch.manual_seed(0)
    small = VGG((2, 6, 6), (3, "M", 4, "M"), num_classes=5).double().eval()  # pooling 6 -> 3 -> 2 (ceil)
    with torch.no_grad():
        for bn in (m for m in small.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    c1, b1, c2, b2 = small.features[0], small.features[1], small.features[4], small.features[5]
    z = F.max_pool2d(F.relu(_bn_eval(F.conv2d(x, c1.weight, c1.bias, padding=1), b1)), 2, ceil_mode=True)
    z = F.max_pool2d(F.relu(_bn_eval(F.conv2d(z, c2.weight, c2.bias, padding=1), b2)), 2, ceil_mode=True)
    assert z.shape == (3, 4, 2, 2)
    fc, bn, head = small.fc[0], small.fc[1], small.classifier
    expected_out = F.linear(F.relu(_bn_eval(F.linear(z.flatten(1), fc.weight, fc.bias), bn)), head.weight, head.bias)
    torch.testing.assert_close(small(x), expected_out, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="layers"):
        VGG((3, 8, 8), ("M",))
    with pytest.raises(ValueError, match="input_shape"):
        VGG((3, 8), (4,))


def test_small_cnn_matches_functional_formula_with_skips():
    torch.manual_seed(0)
    net = SmallCNN((1, 8, 8), num_classes=3, channels=(4, 4), layers_per_stage=2, skip=True).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    c = net.convs
    z = F.relu(F.conv2d(x, c[0].weight, c[0].bias, padding=1))  # 1 -> 4 channels: no skip
    z = z + F.relu(F.conv2d(z, c[1].weight, c[1].bias, padding=1))
    z = F.max_pool2d(z, 2)
    z = z + F.relu(F.conv2d(z, c[2].weight, c[2].bias, padding=1))
    z = z + F.relu(F.conv2d(z, c[3].weight, c[3].bias, padding=1))
    expected = F.linear(z.flatten(2).mean(2), net.classifier.weight, net.classifier.bias)
    torch.testing.assert_close(net(x), expected, rtol=1e-10, atol=1e-12)


def test_bad_inputs_raise_named_errors():
    with pytest.raises(ValueError, match="depth"):
        cifar_resnet(21)
    with pytest.raises(ValueError, match="input_shape"):
        ResNet((8, 8, 8, 8))
    with pytest.raises(ValueError, match="blocks_per_stage"):
        ResNet((1, 40), blocks_per_stage=0)
    with pytest.raises(TypeError, match="skip"):
        ResNet((1, 40), skip="yes")
    with pytest.raises(ValueError, match="widths"):
        ResNet((1, 40), widths=())
    with pytest.raises(ValueError, match="channels"):
        SmallCNN((1, 8, 8), channels=[0])
    with pytest.raises(ValueError, match="input must have shape"):
        ResNet((1, 8, 8))(torch.randn(2, 63))
    with pytest.raises(TypeError, match="input"):
        ResNet((1, 8, 8))([1.0])


@pytest.mark.parametrize("call, name", [
    (lambda: ResNet((1, 40), num_classes=2.0), "num_classes"),
    (lambda: ResNet((1, 40), blocks_per_stage=True), "blocks_per_stage"),
    (lambda: SmallCNN((1, 8, 8), layers_per_stage=1.5), "layers_per_stage"),
    (lambda: cifar_resnet(20, width_multiplier=2.0), "width_multiplier"),
    (lambda: cifar_resnet(20.0), "depth"),
    (lambda: ResNet((1, 40), widths=(8, 16.0)), "widths"),
])
def test_wrong_kinds_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()
