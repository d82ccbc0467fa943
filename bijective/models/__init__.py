"""The likelihood models flows are compared with: autoregressive models of discrete data
(FVSBN, NADE, MADE, PixelCNN, Gated PixelCNN, RNN/LSTM, Transformer) and VAEs (with flow
posteriors)."""

from .autoregressive import FVSBN, MADE, NADE
from .discrete import DiscreteAutoregressive
from .pixelcnn import GatedPixelCNN, MaskedConv2d, PixelCNN
from .posteriors import POSTERIORS, Posterior
from .rnn import Recurrent
from .transformer import Transformer
from .vae import VAE

__all__ = [
    "FVSBN",
    "MADE",
    "NADE",
    "POSTERIORS",
    "VAE",
    "DiscreteAutoregressive",
    "GatedPixelCNN",
    "MaskedConv2d",
    "PixelCNN",
    "Posterior",
    "Recurrent",
    "Transformer",
]


def __getattr__(name: str) -> object:
    """`Autoregressive`, this class's name before it was told apart from the transform
    bijective.transforms.Autoregressive: still importable, with a deprecation warning."""
    if name == "Autoregressive":
        import warnings

        warnings.warn(
            "bijective.models.Autoregressive is now bijective.models.DiscreteAutoregressive",
            DeprecationWarning,
            stacklevel=2,
        )
        return DiscreteAutoregressive
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
