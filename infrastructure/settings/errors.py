class ConfigurationError(ValueError):
    """A setting has a value NeonBlue cannot use; the message names the variable."""
