"""The ``minke`` command, a docker CLI look-alike that talks to minked over HTTP.

``main`` dispatches to one verb module under ``verbs/``, imported only when used so that
start-up stays fast; ``client`` (not ``engine``) is all it talks through.
"""
