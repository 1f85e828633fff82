"""A Flask app for test_wsgi.py, written as any Flask app is."""
import sys

from flask import Flask, abort, jsonify, request, send_file

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


def create_app(greeting=None):
    """An app factory, served as flaskapp:create_app() or 'flaskapp:create_app(greeting="hi")'."""
    if greeting is not None:
        app.config["GREETING"] = greeting
    return app


@app.route("/greeting")
def greeting():
    return app.config.get("GREETING", "none")


@app.route("/gone")
def gone():
    abort(410)


@app.route("/file")
def file():
    """send_file of ?path, with conditional and range handling (werkzeug's)."""
    return send_file(request.args["path"], mimetype="application/octet-stream",
                     conditional=True)


@app.route("/custom")
def custom():
    return "custom", "299 Custom Reason"
