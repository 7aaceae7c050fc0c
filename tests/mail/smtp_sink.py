#!/usr/bin/env python3
"""A real SMTP server for kith's outgoing-mail tests (aiosmtpd).

Prints its port on stdout's first line, then one JSON event a line
({"event": "stalling" | "aborted" | "refused" | "rejected" |
"received", "n": N}), and
appends every message it accepts to --out as a JSON line: mail_from,
rcpt_tos, data (the raw message as sent).

--stall-data SECONDS holds the first --stall-count messages that long
before answering their DATA, so that a test can kill the sender mid-send.
A message whose client goes away during the stall is not accepted: the
connection is gone before the server could answer 250, so it never took
responsibility for it (RFC 5321, 4.1.1.4), and aiosmtpd cancels the
handler.

--fail-first N answers 451 (try again later) to the first N messages;
--reject-first N answers 554 (rejected for good) to the first N.
"""

import argparse
import asyncio
import json
import socket
import sys
import threading

from aiosmtpd.controller import Controller


def emit(event, n):
    print(json.dumps({"event": event, "n": n}), flush=True)


class Sink:
    def __init__(self, out, stall, stall_count, fail_first, reject_first):
        self.out = out
        self.reject_first = reject_first
        self.stall = stall
        self.stall_count = stall_count
        self.fail_first = fail_first
        self.seen = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        n = self.seen
        if n <= self.reject_first:
            emit("rejected", n)
            return "554 5.7.1 Message rejected"
        if n <= self.fail_first:
            emit("refused", n)
            return "451 4.3.0 Try again later"
        if self.stall > 0 and n <= self.stall_count:
            emit("stalling", n)
            try:
                await asyncio.sleep(self.stall)
            except asyncio.CancelledError:
                emit("aborted", n)
                raise
        data = envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        line = json.dumps(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": data,
            }
        )
        # Written before the 250 is answered: a test that sees the reply's
        # effect (the job succeeded) always finds the message in the file.
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
        emit("received", n)
        return "250 2.0.0 Message accepted for delivery"


def free_port(host):
    # aiosmtpd's Controller checks that it is up by connecting to its own
    # port, so it cannot be given 0: take one the kernel picked.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--out", required=True, help="received messages, a JSON line each")
    p.add_argument("--stall-data", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--stall-count", type=int, default=1, metavar="N")
    p.add_argument("--fail-first", type=int, default=0, metavar="N")
    p.add_argument("--reject-first", type=int, default=0, metavar="N")
    a = p.parse_args()
    port = a.port or free_port(a.host)
    sink = Sink(a.out, a.stall_data, a.stall_count, a.fail_first, a.reject_first)
    controller = Controller(sink, hostname=a.host, port=port)
    controller.start()
    print(port, flush=True)
    try:
        # Runs until the test kills it or closes stdin.
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
