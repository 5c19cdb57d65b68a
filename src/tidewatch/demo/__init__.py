"""The bundled synthetic demo: data files (see README.md) and the demo programme."""
