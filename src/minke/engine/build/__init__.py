"""Building images from Dockerfiles with the classic builder's behaviour: the parser
(``parser``, ``expand``, ``instructions``), the context (``context``, ``dockerignore``),
the build itself (``builder``, ``steps``, ``runstep``, ``copyplan``, ``fscopy``, ``cache``)
and its progress stream (``output``).

Imports nothing on purpose: the CLI reads ``dockerignore`` (standard library only) without
pulling in the engine.
"""
