"""The catalogue: every model, data set and target by name, each registered once.

An entry (bijective.registry.Entry) says how to build the thing, which experiment kinds
use it (bijective.train.kinds: "density" fits data by maximum likelihood, "variational"
fits a target by reverse KL, "latent" trains a latent-variable model by its ELBO), and
which builder arguments the data supply: `features` (D), `context` (the number of
classes of a conditional model, else 0), `shape` (an image's (C, H, W)). The config
schema, `bijective list`, the dispatch to a kind and the builders all read it.

A new model family is one module and one line here:

    MODELS.add("fvsbn", models.FVSBN, ("density",), from_data=("features", "context", "levels"))

(`levels`: the number of values of discrete data, which an autoregressive model of
discrete data models directly, without dequantization.)
"""

from __future__ import annotations

from functools import partial

from . import flows, models, tabular
from .data import DATASETS
from .registry import Entry, Registry
from .targets import TARGETS

FLOW = ("density", "variational")  # a flow fits data, or a target
VECTOR = ("features", "context")
DISCRETE = ("features", "context", "levels")  # autoregressive models of discrete vectors
PIXELS = ("shape", "context", "levels")  # ... and of discrete images

MODELS = Registry("architecture")
MODELS.add("maf", flows.MAF, FLOW, VECTOR, "masked autoregressive flow (MADE layers)")
MODELS.add("iaf", flows.IAF, FLOW, VECTOR, "inverse autoregressive flow")
MODELS.add("nsf", flows.NSF, FLOW, VECTOR, "neural spline flow (autoregressive or coupling)")
MODELS.add("realnvp", flows.RealNVP, FLOW, VECTOR, "affine coupling flow")
MODELS.add("nice", flows.NICE, FLOW, VECTOR, "additive coupling flow")
MODELS.add("planar", flows.PlanarFlow, FLOW, VECTOR, "K planar maps")
MODELS.add("radial", flows.RadialFlow, FLOW, VECTOR, "K radial maps")
MODELS.add("resflow", flows.ResidualFlow, FLOW, VECTOR, "Residual Flow (contractive blocks)")
MODELS.add(
    "iresnet",
    partial(flows.ResidualFlow, logdet="series", activation="elu", terms=5, coeff=0.9),
    FLOW,
    VECTOR,
    "i-ResNet (power-series log-det)",
)
MODELS.add("ffjord", flows.FFJORD, FLOW, VECTOR, "FFJORD continuous flow (ODE)")
MODELS.add(
    "flow-matching",
    flows.FlowMatching,
    ("density",),
    VECTOR,
    "continuous flow trained by flow matching, exact likelihood (ODE)",
)
MODELS.add(
    "image-flow-matching",
    flows.ImageFlowMatching,
    ("density",),
    ("shape", "context"),
    "flow matching on images: a U-Net field, exact likelihood (ODE)",
)
MODELS.add("tarflow", flows.TarFlow, FLOW, VECTOR, "TarFlow: transformer autoregressive flow")
MODELS.add("glow", flows.Glow, ("density",), ("shape",), "multi-scale Glow on images")
MODELS.add(
    "image-tarflow",
    flows.ImageTarFlow,
    ("density",),
    ("shape", "context"),
    "TarFlow over image patches",
)
MODELS.add(
    "image-realnvp", flows.ImageRealNVP, ("density",), ("shape",), "multi-scale RealNVP on images"
)
MODELS.add(
    "image-resflow",
    flows.ImageResidualFlow,
    ("density",),
    ("shape",),
    "multi-scale Residual Flow on images",
)
MODELS.add("vae", models.VAE, ("latent",), ("features",), "VAE with a flow posterior (binary)")
MODELS.add("fvsbn", models.FVSBN, ("density",), DISCRETE, "fully visible sigmoid belief network")
MODELS.add("nade", models.NADE, ("density",), DISCRETE, "neural autoregressive density estimator")
MODELS.add("made", models.MADE, ("density",), DISCRETE, "MADE density model (K-mask ensemble)")
MODELS.add("pixelcnn", models.PixelCNN, ("density",), PIXELS, "PixelCNN (masked convolutions)")
MODELS.add(
    "gated-pixelcnn", models.GatedPixelCNN, ("density",), PIXELS, "Gated PixelCNN (no blind spot)"
)
MODELS.add(
    "tabular",
    tabular.Tabular,
    ("density",),
    ("schema",),
    "table of mixed columns: categorical, count, continuous, bounds, angles, missing",
)
MODELS.add("lstm", models.Recurrent, ("density",), DISCRETE, "LSTM over the sequence (or pixels)")
MODELS.add(
    "transformer",
    models.Transformer,
    ("density",),
    DISCRETE,
    "causal transformer over the sequence (or pixels), cached sampling",
)
MODELS.add(
    "rnn",
    partial(models.Recurrent, cell="rnn"),
    ("density",),
    DISCRETE,
    "tanh RNN over the sequence",
)

__all__ = ["DATASETS", "MODELS", "TARGETS", "Entry", "Registry"]
