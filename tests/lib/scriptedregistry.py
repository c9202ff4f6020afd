"""scriptedregistry.py: a loopback HTTP server with scripted answers, for what no real registry does.

    def handle(req):                 # req.method, req.path, req.headers, req.server
        if req.path == "/v2/":
            return 401, [("WWW-Authenticate", 'Basic realm="a, b"')], b""
        return 404, [], b""          # or None for a plain 404

    with ScriptedRegistry(handle, delay=0.2) as srv:
        srv.host        # "127.0.0.1:PORT"
        srv.requests    # every request seen: (method, path, headers)

Headers are a list of (name, value) so a name may repeat. A fourth element N
in the answer sends only the body's first N bytes (Content-Length still
names the whole body), then closes the connection. `delay` seconds
pass before each answer (requests are served concurrently). With
`silent=True` the server accepts connections and never answers.
"""
import http.server
import socket
import threading
import time


class ScriptedRegistry:
    def __init__(self, handler=None, delay=0.0, silent=False):
        self.handler = handler or (lambda req: None)
        self.delay = delay
        self.silent = silent
        self.requests = []
        self._lock = threading.Lock()

    def __enter__(self):
        if self.silent:
            self._start_silent()
        else:
            self._start_http()
        self.host = "127.0.0.1:%d" % self.port
        self.url = "http://" + self.host
        return self

    def __exit__(self, *exc):
        if self.silent:
            self._stop = True
            self.thread.join(10)
            self.sock.close()
            for c in self._held:
                c.close()
        else:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)

    def _start_http(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                with outer._lock:
                    outer.requests.append((self.command, self.path, dict(self.headers)))
                self.server_ref = outer
                ans = outer.handler(self)
                if ans is None:
                    ans = (404, [], b"")
                status, headers, body = ans[:3]
                cut = ans[3] if len(ans) > 3 else None
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # many concurrent connections; the default is 5

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _start_silent(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._held = []
        self._stop = False

        def accept():
            while not self._stop:
                try:
                    c, _ = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self._held.append(c)

        self.thread = threading.Thread(target=accept, daemon=True)
        self.thread.start()
