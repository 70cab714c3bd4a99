#!/usr/bin/python3
"""A local SMTP sink for development and tests: accepts every mail on
HOST:PORT (plain SMTP, loopback only) and writes each one, as received, to
DIR/<time>-<n>.eml (written to a temporary name, then renamed, so a reader
never sees half a mail). Runs until SIGTERM or SIGINT.

    python3 scripts/mail-sink.py --port 2525 --dir .run/mail
"""
import argparse
import asyncio
import itertools
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.n = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%06d.eml" % (time.time_ns(), next(self.n))
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.dir, name))
        return "250 OK"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("mail-sink: listens on a loopback address only")
    os.makedirs(args.dir, exist_ok=True)
    ctl = Controller(Sink(args.dir), hostname=args.host, port=args.port)
    ctl.start()
    print("mail-sink: smtp://%s:%d -> %s" % (args.host, args.port, args.dir),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    ctl.stop()


if __name__ == "__main__":
    main()
