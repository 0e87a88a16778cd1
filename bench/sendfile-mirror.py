"""A loopback stand-in for a fast Debian mirror, for bench/fetch.ts --loopback.

HTTP/1.1 with keep-alive, GET only, files under ROOT sent with sendfile(2) (zero copy, little CPU of
its own), one thread per connection. Prints the port it listens on, then serves until killed.

    python3 bench/sendfile-mirror.py ROOT
"""

import http.server
import os
import socketserver
import sys
import urllib.parse

root = os.path.realpath(sys.argv[1])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = os.path.realpath(os.path.join(root, urllib.parse.unquote(self.path.split("?")[0]).lstrip("/")))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            while sent < size:
                sent += os.sendfile(self.connection.fileno(), f.fileno(), sent, size - sent)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
