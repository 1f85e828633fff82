"""The least Django project that serves a request, laid out as `django-admin startproject`
makes one (mysite/settings.py, urls.py, wsgi.py, asgi.py) and served as its deployment docs
say: `cppicorn mysite.wsgi`, `cppicorn -k asgi mysite.asgi`."""
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
DATA_UPLOAD_MAX_MEMORY_SIZE = None  # /size reads bodies of any size
