"""Training: configs, the loop, checkpoints, metrics, and experiments in run directories."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import (
    ARCHITECTURES,
    Config,
    ConfigError,
    DataConfig,
    TrainConfig,
    dump_config,
    load_config,
    parse_config,
)
from .experiment import Experiment, build, evaluate, open_run, resume, sample, train
from .loop import Diverged, Progress, fit, learning_rate
from .variational import VariationalExperiment

__all__ = [
    "ARCHITECTURES",
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataConfig",
    "Diverged",
    "Experiment",
    "Progress",
    "TrainConfig",
    "VariationalExperiment",
    "build",
    "dump_config",
    "evaluate",
    "fit",
    "learning_rate",
    "load_checkpoint",
    "load_config",
    "open_run",
    "parse_config",
    "resume",
    "sample",
    "save_checkpoint",
    "train",
]
