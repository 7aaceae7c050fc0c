"""Sends one text frame of SIZE bytes over a WebSocket with Python's
`websockets` library, then prints the close code and reason it received
(1006 when the connection was reset before a close frame was read).

usage: ws_big_frame.py URL COOKIE SIZE
"""

import asyncio
import sys

import websockets


async def main(url: str, cookie: str, size: int) -> None:
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie}, open_timeout=10, close_timeout=5
    ) as ws:
        await ws.recv()  # the hello
        try:
            await ws.send("x" * size)
            # Reading after the server answered: the close frame must still
            # be there, not lost under a reset.
            await asyncio.sleep(0.3)
            while True:
                await asyncio.wait_for(ws.recv(), timeout=10)
        except websockets.ConnectionClosed as e:
            rcvd = e.rcvd
            print(rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
