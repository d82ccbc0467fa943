"""The likelihood models flows are compared with: autoregressive models of discrete data
(FVSBN, NADE, MADE, PixelCNN, Gated PixelCNN, RNN/LSTM) and VAEs (with flow posteriors)."""

from .autoregressive import FVSBN, MADE, NADE
from .discrete import Autoregressive
from .pixelcnn import GatedPixelCNN, MaskedConv2d, PixelCNN
from .posteriors import POSTERIORS, Posterior
from .rnn import Recurrent
from .vae import VAE

__all__ = [
    "FVSBN",
    "MADE",
    "NADE",
    "POSTERIORS",
    "VAE",
    "Autoregressive",
    "GatedPixelCNN",
    "MaskedConv2d",
    "PixelCNN",
    "Posterior",
    "Recurrent",
]
