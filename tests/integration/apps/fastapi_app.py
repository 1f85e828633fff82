"""A FastAPI app as its users write them (Debian's python3-fastapi 0.92): path and query
parameters, a JSON body, a dependency, a startup event, a StreamingResponse, an exception."""
from fastapi import Depends, FastAPI, Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()
started = {"count": 0}


@app.on_event("startup")
async def startup():
    started["count"] += 1


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def caller(x_caller: str = Header(default="anonymous")):
    return x_caller.upper()


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None, who: str = Depends(caller)):
    return {"item_id": item_id, "q": q, "who": who, "started": started["count"]}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "total": item.price * 2, "tags": item.tags}


@app.get("/sync")
def sync_endpoint():
    return {"thread": "pool"}


@app.get("/stream")
async def stream():
    async def numbers():
        for i in range(5):
            yield f"{i}\n"
    return StreamingResponse(numbers(), media_type="text/plain")


@app.get("/boom")
async def boom():
    raise RuntimeError("fastapi endpoint failed")
