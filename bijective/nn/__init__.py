"""Networks: conditioners that map (input, context) to the parameters of a flow layer, the
causal transformer the autoregressive transformer models share, and the vector fields of
continuous flows (ODENet on vectors, UNet on images)."""

from .lipschitz import LipschitzConvNet, LipschitzMLP, LipSwish, SpectralConv2d, SpectralLinear
from .made import MaskedLinear, MaskedMLP
from .mlp import MLP
from .ode import ConcatSquashLinear, ODENet
from .transformer import CausalTransformer, KeyValueCache
from .unet import UNet

__all__ = [
    "CausalTransformer",
    "ConcatSquashLinear",
    "KeyValueCache",
    "LipSwish",
    "LipschitzConvNet",
    "LipschitzMLP",
    "MLP",
    "MaskedLinear",
    "MaskedMLP",
    "ODENet",
    "SpectralConv2d",
    "SpectralLinear",
    "UNet",
]
