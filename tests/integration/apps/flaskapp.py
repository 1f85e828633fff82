"""A Flask app for test_wsgi.py, written as any Flask app is."""
import sys

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask"


@app.route("/json", methods=["POST"])
def echo_json():
    return jsonify(got=request.get_json(), length=len(request.get_data()))


@app.route("/form", methods=["POST"])
def form():
    return jsonify(dict(request.form))


@app.route("/modules")
def modules():
    # C extension modules that need libpython's symbols in the global scope.
    import _json  # noqa: F401
    return jsonify(sorted(m for m in ("_json", "markupsafe._speedups") if m in sys.modules))


@app.route("/user/<name>")
def user(name):
    return jsonify(name=name, args=request.args)


def create_app():
    """An app factory, served as flaskapp:create_app()."""
    return app
