"""The JSON API, version 1: thin views over the domain modules."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from triage.api import models, queues, views  # noqa: E402,F401 - registers the routes on bp
