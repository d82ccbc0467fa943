"""Bijections from data x to latent z (see `Transform` for the contract)."""

from . import dequantization, masks
from .autoregressive import Autoregressive
from .base import Compose, Inverse, Transform
from .continuous import ContinuousFlow
from .contractive import ConvInvertibleResidual, InvertibleResidual
from .coupling import AdditiveCoupling, AffineCoupling, Coupling
from .elementwise import Affine, Elementwise, Exp, LeakyReLU, Logit, Sigmoid, Softplus, Tanh
from .image import Conv1x1, ConvCoupling, Flatten, MultiScale, Squeeze
from .linear import LULinear, Permutation
from .normalization import ActNorm, BatchNorm
from .residual import Planar, Radial, Sylvester
from .reversible import Reversible
from .splines import SplineTransformer
from .tokens import TokenAutoregressive, Tokens
from .transformers import AdditiveTransformer, AffineTransformer, Transformer

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AdditiveTransformer",
    "Affine",
    "AffineCoupling",
    "AffineTransformer",
    "Autoregressive",
    "BatchNorm",
    "Compose",
    "ContinuousFlow",
    "ConvInvertibleResidual",
    "Conv1x1",
    "ConvCoupling",
    "Coupling",
    "Elementwise",
    "Exp",
    "Inverse",
    "InvertibleResidual",
    "LULinear",
    "LeakyReLU",
    "Logit",
    "MultiScale",
    "Permutation",
    "Planar",
    "Radial",
    "Reversible",
    "Sigmoid",
    "Softplus",
    "SplineTransformer",
    "Flatten",
    "Squeeze",
    "Sylvester",
    "Tanh",
    "TokenAutoregressive",
    "Tokens",
    "Transform",
    "Transformer",
    "dequantization",
    "masks",
]
