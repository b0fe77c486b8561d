"""Local web servers for the end-to-end tests: the pages the fetch server
is asked for and a stand-in for the GitHub API.

Usage:
  fixture.py serve CONFIG.json   serve until killed
  fixture.py cert DIR NAME       write DIR/ca.pem, DIR/cert.pem, DIR/key.pem:
                                 a throwaway CA and a certificate for NAME

The config lists servers: {"host" (default 127.0.0.1), "port", "tls":
{"cert", "key"} or absent, "routes": {path: {"status", "type", "body"}}}. Every accepted connection
and every request is appended to the config's "log" file as one JSON line
({"host", "port", "event": "connect"} or {"host", "port", "event":
"request", "method", "path", "authorization"}), so the test can tell a connection that never
arrived from one that was answered. "ready" is printed once every port
listens.

Runs only inside the test's own network namespaces: the suite's, and the
test host that holds the public-looking stand-in address.
"""

import datetime
import json
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

LOCK = threading.Lock()


def log(path, entry):
    with LOCK, open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def make_handler(host, port, routes, log_path):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            log(
                log_path,
                {
                    "host": host,
                    "port": port,
                    "event": "request",
                    "method": "GET",
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                },
            )
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            body = route["body"].encode()
            self.send_response(route.get("status", 200))
            self.send_header("Content-Type", route.get("type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True

    def __init__(self, host, port, handler, log_path, tls):
        self.host = host
        self.port = port
        self.log_path = log_path
        super().__init__((host, port), handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls["cert"], tls["key"])
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def get_request(self):
        sock, addr = super().get_request()
        log(self.log_path, {"host": self.host, "port": self.port, "event": "connect"})
        return sock, addr


def serve(config_path):
    with open(config_path) as f:
        config = json.load(f)
    servers = []
    for s in config["servers"]:
        host = s.get("host", "127.0.0.1")
        handler = make_handler(host, s["port"], s.get("routes", {}), config["log"])
        servers.append(Server(host, s["port"], handler, config["log"], s.get("tls")))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def cert(directory, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def build(subject, issuer, public_key, signing_key, ca, extensions=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - day)
            .not_valid_after(now + day)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        for ext in extensions:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cordon e2e test CA")])
    ca_cert = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    leaf = build(
        leaf_name,
        ca_name,
        key.public_key(),
        ca_key,
        False,
        [x509.SubjectAlternativeName([x509.DNSName(name)])],
    )
    pem = serialization.Encoding.PEM
    with open(f"{directory}/ca.pem", "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(f"{directory}/cert.pem", "wb") as f:
        f.write(leaf.public_bytes(pem))
    with open(f"{directory}/key.pem", "wb") as f:
        f.write(
            key.private_bytes(
                pem,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "cert":
        cert(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
