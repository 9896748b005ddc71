"""The ResNet-18 network, and loading torchvision's pretrained weights into it."""

import os

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

__all__ = ["ResNet18", "check_pretrained", "freeze_parameters", "load_torchvision_resnet18"]

_STEMS = ("cifar", "imagenet")


def load_torchvision_resnet18(module, path):
    """Load a torchvision ResNet-18 ``state_dict`` file into ``module`` (a :class:`ResNet18`
    with the ImageNet stem and width 64), all but the output layer ``fc``.

    Nothing is downloaded. For one input channel the first convolution's
    weights are summed over torchvision's three (the same as feeding the gray
    image to every channel).

    Raises
    ------
    ValueError
        If the file cannot be read as a state_dict or does not fit the network.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(
            f"weights={os.fspath(path)!r} could not be read as a saved state_dict: {exc}"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"weights={os.fspath(path)!r} holds a {type(state).__name__}, not a state_dict; "
            "save it with torch.save(model.state_dict(), path)."
        )
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    in_channels = module.conv1.weight.shape[1]
    if "conv1.weight" in state and in_channels != state["conv1.weight"].shape[1]:
        if in_channels != 1:
            raise ValueError(
                f"Pretrained weights take {state['conv1.weight'].shape[1]} input channels; "
                f"the images have {in_channels} (1 or 3 work)."
            )
        state["conv1.weight"] = state["conv1.weight"].sum(1, keepdim=True)
    own = module.state_dict()
    wrong = [k for k, v in state.items() if k not in own or own[k].shape != v.shape] + [
        k for k in own if k not in state and not k.startswith("fc.")
    ]
    if wrong:
        raise ValueError(
            f"weights={os.fspath(path)!r} is not a torchvision ResNet-18 state_dict: "
            f"{len(wrong)} entries are missing, unexpected or of another shape, e.g. {wrong[:3]}."
        )
    module.load_state_dict(state, strict=False)


def check_pretrained(weights, module, width, stem):
    """Raise ValueError unless ``weights`` is None or the network settings fit
    torchvision's ResNet-18 (``module=ResNet18``, ``width=64``, ImageNet stem)."""
    if weights is None:
        return
    if module is not ResNet18 or width != 64 or stem != "imagenet":
        name = getattr(module, "__name__", module)
        raise ValueError(
            "weights= loads torchvision's ResNet-18: it needs module=ResNet18, "
            f"width=64 and stem='imagenet'; got module={name!r}, "
            f"width={width!r}, stem={stem!r}."
        )


def freeze_parameters(module, freeze):
    """Set ``requires_grad=False`` on the parameters named by ``freeze``.

    ``"backbone"``: every parameter outside ``fc``; a list of str: parameters
    whose name starts with one of these prefixes (``"layer1"`` matches
    ``layer1.*``).
    """
    names = [n for n, _ in module.named_parameters()]
    if isinstance(freeze, str) and freeze == "backbone":
        if not any(n.startswith("fc.") for n in names):
            raise ValueError("freeze='backbone' needs an output layer named 'fc'.")
        prefixes = sorted({n.split(".")[0] for n in names} - {"fc"})
    elif isinstance(freeze, (list, tuple)) and all(isinstance(p, str) for p in freeze):
        prefixes = list(freeze)
    else:
        raise ValueError(
            f"freeze must be None, 'backbone' or a list of parameter-name prefixes; got {freeze!r}."
        )
    unmatched = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
    if unmatched:
        raise ValueError(f"freeze prefixes {unmatched} match no parameter of the network.")
    for name, p in module.named_parameters():
        if any(name == q or name.startswith(q + ".") for q in prefixes):
            p.requires_grad_(False)


class ResNet18(nn.Module):
    """ResNet-18 built from torchvision's ``BasicBlock``; returns logits.

    Parameters
    ----------
    in_channels : int, default=3
        Number of input channels.
    n_classes : int, default=10
        Number of outputs of the output layer ``fc``.
    width : int, default=64
        Channels of the first stage; the stages use ``width * (1, 2, 4, 8)``.
        64 is torchvision's ResNet-18, 16 the FisherMask paper's narrow net.
    stem : {"cifar", "imagenet"}, default="cifar"
        ``"cifar"``: 3x3 stride-1 convolution, no max-pool (small images).
        ``"imagenet"``: 7x7 stride-2 convolution and a max-pool.

    Attributes
    ----------
    fc : torch.nn.Linear
        The bias-free output layer; Fisher code finds the output layer under
        this name.
    """

    def __init__(self, in_channels=3, n_classes=10, width=64, stem="cifar"):
        super().__init__()
        if stem not in _STEMS:
            raise ValueError(f"stem must be one of {_STEMS}; got {stem!r}.")
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._make_layer(width, 1)
        self.layer2 = self._make_layer(2 * width, 2)
        self.layer3 = self._make_layer(4 * width, 2)
        self.layer4 = self._make_layer(8 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width, n_classes, bias=False)
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self._inplanes != planes:
            downsample = nn.Sequential(
                conv1x1(self._inplanes, planes, stride), nn.BatchNorm2d(planes)
            )
        first = BasicBlock(self._inplanes, planes, stride, downsample)
        self._inplanes = planes
        return nn.Sequential(first, BasicBlock(planes, planes))

    def features(self, x):
        """Penultimate-layer features of shape (n, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))
