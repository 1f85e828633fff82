"""An app whose import fails: the server must stop with exit code 4 and the traceback."""
import no_such_module_for_cppicorn_tests  # noqa: F401


def app(environ, start_response):
    raise AssertionError("never imported")
