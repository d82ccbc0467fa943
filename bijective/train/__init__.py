"""Training: configs, the loop, run state, experiment kinds, and the orchestration that
puts them in run directories (docs/architecture.md shows how they fit)."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    TargetConfig,
    TrainConfig,
    parse_config,
    schema,
)
from .config_files import dump_config, load_config
from .faults import OutOfMemory, WriteError
from .kinds import KINDS, Experiment, Kind
from .kinds.density import DensityExperiment
from .kinds.latent import LatentExperiment
from .kinds.variational import VariationalExperiment
from .loop import Diverged, fit, learning_rate
from .preemption import Stopped
from .run import build, evaluate, open_run, resume, train
from .state import Progress

__all__ = [
    "KINDS",
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataConfig",
    "DensityExperiment",
    "Diverged",
    "Experiment",
    "Kind",
    "LatentExperiment",
    "ModelConfig",
    "OutOfMemory",
    "Progress",
    "Stopped",
    "TargetConfig",
    "TrainConfig",
    "VariationalExperiment",
    "WriteError",
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
    "save_checkpoint",
    "schema",
    "train",
]
