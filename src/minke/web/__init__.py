"""minke's web dashboard, served by minked on ``--web``: cluster, services, tasks,
containers and the single-node objects, live from the event bus, with a few confirmed
actions. Everything it shows or does goes through the Docker Engine API's own handlers
(``gateway``); ``auth`` says who may read and act; ``feed`` pushes events to open pages.
"""

from minke.web.app import make_web_app, start
from minke.web.config import WebConfig, resolve

__all__ = ["WebConfig", "make_web_app", "resolve", "start"]
