"""A FastAPI WebSocket route as its users write them (Debian's python3-fastapi 0.92): a path
parameter, a query parameter, receive_text/send_text until WebSocketDisconnect, and
receive_json/send_json."""
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
disconnects = []


@app.websocket("/rooms/{room}")
async def room(websocket: WebSocket, room: str, nick: str = "anon"):
    await websocket.accept()
    await websocket.send_text(f"{nick} joined {room}")
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{nick}@{room}: {text}")
    except WebSocketDisconnect as e:
        disconnects.append(e.code)


@app.websocket("/json")
async def json_echo(websocket: WebSocket):
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"got": data, "sum": sum(data.get("numbers", []))})
    await websocket.close(code=4002)


@app.get("/disconnects")
async def seen():
    return disconnects
