"""The one error the VideoLLM-online importer raises for a checkpoint it does not understand."""


class LayoutError(ValueError):
    """A checkpoint file, key or tensor the importer cannot use. The message is one line that names
    the file and the key (or tensor) and says what to do; the CLI prints it and exits 2."""


class RouterInputError(LayoutError):
    """A recording or option `train-routers` / `router-table` cannot use (no video stream, an
    unreadable file, a keep ratio or first routed layer out of range). One line, like LayoutError."""
