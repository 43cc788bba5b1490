"""Bootstrap's <link> and <script> tags, made once per app and script root, not on every page.

Bootstrap-Flask builds them (with url_for) at each call: about 28 µs of the
145 µs a signed-in page takes to render (docs/performance.md). They change only with the
address the portal is mounted at, so the templates take them from here.
"""
from flask import Flask, current_app, request
from markupsafe import Markup

CACHE = "portal.bootstrap_tags"  # app.extensions: {(kind, script root): Markup}


def _tags(kind: str) -> Markup:
    cache = current_app.extensions.setdefault(CACHE, {})
    key = (kind, request.script_root)
    if key not in cache:
        bootstrap = current_app.extensions["bootstrap"]
        cache[key] = bootstrap.load_css() if kind == "css" else bootstrap.load_js()
    return cache[key]


def register(app: Flask) -> None:
    app.jinja_env.globals.update(bootstrap_css=lambda: _tags("css"), bootstrap_js=lambda: _tags("js"))
