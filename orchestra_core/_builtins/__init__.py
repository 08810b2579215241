"""The core's built-in integrations, registered as ordinary plugins (see ``DEFAULT_PLUGINS``)."""
