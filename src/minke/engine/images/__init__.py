"""Images: references, safe layer extraction, records, archives, and ``ImageService``."""

from minke.engine.images.reference import Reference, parse, parse_tagged
from minke.engine.images.service import ImageService

__all__ = ["ImageService", "Reference", "parse", "parse_tagged"]
