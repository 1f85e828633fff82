"""FastAPI hello for the "FastAPI hello" rows of bench/run: the same 14-byte body as the other
hello apps, through FastAPI's routing and response classes (Debian's python3-fastapi)."""
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "Hello, World!\n"
