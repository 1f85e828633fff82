"""The least Django project that serves a request, laid out as `django-admin startproject`
makes one (mysite/settings.py, urls.py, wsgi.py) and served as its deployment docs say:
`cppicorn mysite.wsgi`."""
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
