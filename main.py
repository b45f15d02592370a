"""The original deployment's entry point, for ``uvicorn main:app`` and ``gunicorn main:app``.

The same service as ``gunicorn -c gunicorn.conf.py``; see ``aifactory.api.asgi.standalone_app``.
"""

from aifactory.api.asgi import standalone_app

app = standalone_app()
