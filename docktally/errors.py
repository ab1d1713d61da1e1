"""One error type at the root, with messages a user can act on."""


class DocktallyError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with `exit_code`."""

    exit_code = 1


class UsageError(DocktallyError):
    """Bad input on the command line or in a file: exit 2, nothing written."""

    exit_code = 2


class EngineUnreachable(DocktallyError):
    """The Docker engine did not answer where we looked."""


class StoreError(DocktallyError):
    """The database cannot be opened, written or migrated."""
