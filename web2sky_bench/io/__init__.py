"""Low-level I/O: atomic writes, HTTP, archives, images."""
