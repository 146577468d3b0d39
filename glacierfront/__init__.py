"""glacierfront: glacier calving-front extraction from satellite scenes with CISNet."""

__version__ = "0.1.0"

from glacierfront.errors import GlacierfrontError

__all__ = ["GlacierfrontError", "__version__"]
