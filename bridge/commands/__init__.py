"""The subcommands of the ``bridge`` command line (entry points: they read argv and env)."""
