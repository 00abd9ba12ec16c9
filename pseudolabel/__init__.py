"""pseudolabel: semi-supervised text classification by self-training a pretrained encoder."""

__version__ = "0.1.0"

from .api import SelfTrainer  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import ConfigError, DataError, PseudolabelError, RunStateError  # noqa: E402

__all__ = ["SelfTrainer", "Config", "load_config", "PseudolabelError", "ConfigError", "DataError", "RunStateError"]
