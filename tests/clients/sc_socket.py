"""A ServiceCenter WebSocket client (heartbeat or watcher) on the websocket-client library.

Usage: sc_socket.py URL [HEADER:VALUE ...]

Connects to URL (ws://...) with the given headers, answers the server's pings with pongs (which
the heartbeat socket counts as heartbeats, as sc-client's gorilla/websocket does by default), and
prints one JSON line per event: {"event": "open"}, {"event": "text", "data": ...},
{"event": "close", "code": N, "reason": ...} (then exits), {"event": "error", "error": ...}.
Exits by itself after 120 s.
"""

import json
import sys
import time

import websocket


def emit(**event):
    print(json.dumps(event), flush=True)


def main():
    url = sys.argv[1]
    headers = [h.replace(":", ": ", 1) for h in sys.argv[2:]]
    deadline = time.monotonic() + 120
    try:
        ws = websocket.create_connection(url, header=headers, timeout=5)
    except Exception as e:  # the upgrade refused, or nothing listening
        emit(event="error", error=str(e))
        return
    emit(event="open")
    while time.monotonic() < deadline:
        try:
            opcode, frame = ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            continue
        except Exception as e:
            emit(event="error", error=str(e))
            return
        if opcode == websocket.ABNF.OPCODE_PING:
            ws.pong(frame.data)
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            emit(event="text", data=frame.data.decode("utf-8"))
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            emit(event="close", code=code, reason=frame.data[2:].decode("utf-8", "replace"))
            return


if __name__ == "__main__":
    main()
