"""Sub-commands of the ``tidewatch`` command line, one module each."""
