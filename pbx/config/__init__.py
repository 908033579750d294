"""Configuration: YAML files in a directory -> one frozen, validated `Config`."""

from pbx.config.load import ConfigError, Problem, load_config
from pbx.config.models import (
    STRATEGIES,
    Api,
    Auth,
    Config,
    Device,
    Listen,
    Logging,
    Node,
    Queue,
    Registrar,
    Security,
    Sip,
    Trunk,
    User,
)

__all__ = [
    "STRATEGIES",
    "Api",
    "Auth",
    "Config",
    "ConfigError",
    "Device",
    "Listen",
    "Logging",
    "Node",
    "Problem",
    "Queue",
    "Registrar",
    "Security",
    "Sip",
    "Trunk",
    "User",
    "load_config",
]
