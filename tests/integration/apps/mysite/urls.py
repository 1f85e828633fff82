"""Routes of the test Django project: a view, and a 410 as django.http raises it."""
from django.http import HttpResponse, HttpResponseGone
from django.urls import path


def hello(request):
    return HttpResponse(f"Hello from Django at {request.path}", content_type="text/plain")


def gone(request):
    return HttpResponseGone("gone")


urlpatterns = [path("", hello), path("gone", gone)]
