// Content-defined and fixed-size chunkers. Format: formats/chunkers.md.
