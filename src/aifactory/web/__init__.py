"""The dashboard at ``/``: server-rendered pages, their templates and static files.

:mod:`aifactory.web.routes` holds the pages (included by :func:`aifactory.api.app.create_app`),
:mod:`aifactory.service.sessions` the sessions and CSRF tokens, :mod:`aifactory.web.render` the
templates and security headers, :mod:`aifactory.web.views` and :mod:`aifactory.web.charts` what
the pages show. See ``docs/dashboard.md``.
"""
