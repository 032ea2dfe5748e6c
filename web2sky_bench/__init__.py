"""web2sky-bench: fine-grained aerial target recognition helped by web photos."""

from web2sky_bench.errors import Web2SkyError

__version__ = "0.1.0"
__all__ = ["Web2SkyError", "__version__"]
