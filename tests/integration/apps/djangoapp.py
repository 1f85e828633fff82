"""A one-file Django project for test_threads.py, configured the way any Django app is (its
WSGI handler from get_wsgi_application())."""
import threading

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="only-for-tests",
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse("Hello from Django")


def thread(request):
    return HttpResponse(threading.current_thread().name)


urlpatterns = [path("", index), path("thread", thread)]
app = get_wsgi_application()
