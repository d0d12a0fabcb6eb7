"""`python -m dashboards [--home DIR] [--host 127.0.0.1] [--port 8050]`: the same as `s1 dashboard`."""

import argparse

from dashboards.app import serve

if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    ap.add_argument("--home", help="storage root (default: $S1_HOME, else ./s1-home)")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    ap.add_argument("--port", type=int, default=8050)
    args = ap.parse_args()
    serve(args.home, host=args.host, port=args.port)
