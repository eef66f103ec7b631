"""The HTTP API's parts: dependencies (``deps``) and one router per resource (``routers``)."""
