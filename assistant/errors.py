"""One small error hierarchy; each front end turns these into a message for its user."""


class PhysioError(Exception):
    """Base class: the message says what went wrong and what to do next."""


class ConfigError(PhysioError):
    """A setting or data file is missing or invalid."""


class ModelError(PhysioError):
    """The embedding model cannot be loaded or failed its integrity check."""


class StoreError(PhysioError):
    """The vector store is missing, empty, corrupt or built with another model."""


class InputError(PhysioError):
    """A message or request cannot be processed as given."""
