"""Routes of the test Django project: a view, a 410 as django.http raises it, and (for its
ASGI side) an async view and one that reads the request body."""
import asyncio

from django.http import HttpResponse, HttpResponseGone
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def hello(request):
    return HttpResponse(f"Hello from Django at {request.path}", content_type="text/plain")


def gone(request):
    return HttpResponseGone("gone")


async def waits(request):
    await asyncio.sleep(0.01)
    return HttpResponse(f"awaited at {request.path}", content_type="text/plain")


@csrf_exempt
def size(request):
    return HttpResponse(str(len(request.body)), content_type="text/plain")


urlpatterns = [path("", hello), path("gone", gone), path("async", waits), path("size", size)]
