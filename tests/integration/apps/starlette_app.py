"""A Starlette app (Debian's python3-starlette 0.26) with a Mount: the mounted app sees its
own root_path, and the server's root_path (--root-path) comes before it."""
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route


async def home(request):
    return PlainTextResponse("home")


async def where(request):
    return JSONResponse({"path": request.scope["path"],
                         "root_path": request.scope["root_path"],
                         "url": str(request.url),
                         "name": request.path_params.get("name")})


api = Starlette(routes=[Route("/users/{name}", where)])
app = Starlette(routes=[Route("/", home), Mount("/api", app=api)])
