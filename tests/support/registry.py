"""A package registry on loopback for cordon's tests.

An npm registry (packuments, .tgz tarballs with sha512 integrity) and a
PyPI simple index (PEP 503 pages with #sha256= fragments, wheels), served
from a directory that the publishing commands fill while the server runs.

  registry.py serve ROOT             binds 127.0.0.1:0, prints the port, serves
  registry.py npm ROOT BASE          packs the npm package described on stdin
  registry.py wheel ROOT BASE        builds the wheel described on stdin
  registry.py add-wheels ROOT BASE FILE...   indexes wheels built elsewhere
  registry.py add-tarballs ROOT BASE FILE... indexes npm tarballs packed elsewhere

BASE is the server's URL (http://127.0.0.1:PORT): tarball and wheel URLs
point at the server itself. Each publishing command prints what it made
as JSON. Every request served is appended to ROOT/requests.log.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

# Fixed timestamps: the same file map packs to the same bytes.
EPOCH = 315532800  # 1980-01-01, the earliest a zip entry can hold


def norm(name):
    """A PyPI project's normalised name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def slot(name):
    """A directory name for an npm package name (a scoped one holds a /)."""
    return name.replace("/", "%2f")


def write(path, data):
    """Replaces `path` at once: the server never serves half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def b64(digest):
    return base64.b64encode(digest).decode()


# ---- npm -------------------------------------------------------------------


def npm(root, base, spec):
    name, version = spec["name"], spec["version"]
    manifest = {"name": name, "version": version}
    for key in ("bin", "dependencies", "scripts"):
        if spec.get(key):
            manifest[key] = spec[key]
    files = dict(spec.get("files") or {})
    files.setdefault("package.json", json.dumps(manifest, indent=2) + "\n")

    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(files):
                data = files[path].encode()
                info = tarfile.TarInfo("package/" + path)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = EPOCH
                tar.addfile(info, io.BytesIO(data))
    tgz = raw.getvalue()

    short = name.split("/")[-1]
    file = "%s-%s.tgz" % (short, version)
    url = "%s/%s/-/%s" % (base, name, file)
    integrity = "sha512-" + b64(hashlib.sha512(tgz).digest())
    folder = os.path.join(root, "npm", slot(name))
    write(os.path.join(folder, file), tgz)

    doc_path = os.path.join(folder, "packument.json")
    try:
        with open(doc_path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        doc = {"name": name, "dist-tags": {}, "versions": {}, "time": {}}
    entry = dict(manifest)
    entry["_id"] = "%s@%s" % (name, version)
    entry["dist"] = {
        "tarball": url,
        "integrity": integrity,
        "shasum": hashlib.sha1(tgz).hexdigest(),
    }
    doc["versions"][version] = entry
    doc["dist-tags"][spec.get("tag") or "latest"] = version
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    doc["time"][version] = now
    doc["time"]["modified"] = now
    write(doc_path, json.dumps(doc, indent=1).encode())
    return {"url": url, "file": file, "digest": integrity}


def add_tarballs(root, base, paths):
    """Serves tarballs made by `npm pack` (a mirror made at setup time):
    each version's packument entry is the tarball's own package.json."""
    made = []
    for path in paths:
        with open(path, "rb") as f:
            tgz = f.read()
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
            member = next(m for m in tar.getmembers()
                          if m.name.count("/") == 1 and m.name.endswith("/package.json"))
            manifest = json.load(tar.extractfile(member))
        name, version = manifest["name"], manifest["version"]
        file = "%s-%s.tgz" % (name.split("/")[-1], version)
        url = "%s/%s/-/%s" % (base, name, file)
        integrity = "sha512-" + b64(hashlib.sha512(tgz).digest())
        folder = os.path.join(root, "npm", slot(name))
        write(os.path.join(folder, file), tgz)
        doc_path = os.path.join(folder, "packument.json")
        try:
            with open(doc_path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            doc = {"name": name, "dist-tags": {}, "versions": {}, "time": {}}
        entry = dict(manifest)
        entry["_id"] = "%s@%s" % (name, version)
        entry["dist"] = {"tarball": url, "integrity": integrity,
                         "shasum": hashlib.sha1(tgz).hexdigest()}
        doc["versions"][version] = entry
        doc["dist-tags"].setdefault("latest", version)
        doc["time"][version] = doc["time"]["modified"] = "2000-01-01T00:00:00.000Z"
        write(doc_path, json.dumps(doc, indent=1).encode())
        made.append({"url": url, "file": file, "digest": integrity})
    return made


# ---- PyPI ------------------------------------------------------------------


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def wheel(root, base, spec):
    name, version = spec["name"], spec["version"]
    dist = re.sub(r"[-_.]+", "_", name)
    info = "%s-%s.dist-info" % (dist, version)
    files = dict(spec.get("files") or {})
    meta = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    meta += ["Requires-Dist: " + r for r in spec.get("requires") or []]
    files[info + "/METADATA"] = "\n".join(meta) + "\n"
    files[info + "/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: cordon-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    scripts = spec.get("scripts") or {}
    if scripts:
        lines = ["[console_scripts]"] + ["%s = %s" % (k, scripts[k]) for k in sorted(scripts)]
        files[info + "/entry_points.txt"] = "\n".join(lines) + "\n"
    record = []
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            data = files[path].encode()
            z.writestr(zipfile.ZipInfo(path, time.gmtime(EPOCH)[:6]), data)
            record.append("%s,%s,%d" % (path, record_hash(data), len(data)))
        record.append(info + "/RECORD,,")
        z.writestr(zipfile.ZipInfo(info + "/RECORD", time.gmtime(EPOCH)[:6]), "\n".join(record) + "\n")
    whl = raw.getvalue()
    file = "%s-%s-py3-none-any.whl" % (dist, version)
    write(os.path.join(root, "pypi", norm(name), file), whl)
    index(root, base, norm(name))
    return {"url": "%s/files/%s/%s" % (base, norm(name), file), "file": file,
            "digest": hashlib.sha256(whl).hexdigest()}


def add_wheels(root, base, paths):
    made = []
    for path in paths:
        file = os.path.basename(path)
        project = norm(file.split("-")[0])
        dest = os.path.join(root, "pypi", project, file)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)
        with open(dest, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        made.append({"url": "%s/files/%s/%s" % (base, project, file), "file": file, "digest": digest})
    for project in sorted({norm(os.path.basename(p).split("-")[0]) for p in paths}):
        index(root, base, project)
    return made


def index(root, base, project):
    """Writes the project's page, then the root page listing every project."""
    folder = os.path.join(root, "pypi", project)
    links = []
    for file in sorted(os.listdir(folder)):
        if file.endswith(".whl") or file.endswith(".tar.gz"):
            with open(os.path.join(folder, file), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            links.append('<a href="%s/files/%s/%s#sha256=%s">%s</a><br/>' % (base, project, file, digest, file))
    page = "<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n" % "\n".join(links)
    write(os.path.join(folder, "index.html"), page.encode())
    projects = sorted(d for d in os.listdir(os.path.join(root, "pypi")) if not d.endswith(".html"))
    links = ['<a href="/simple/%s/">%s</a><br/>' % (p, p) for p in projects]
    page = "<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n" % "\n".join(links)
    write(os.path.join(root, "pypi", "index.html"), page.encode())


# ---- serving ---------------------------------------------------------------


def serve(root):
    log_lock = threading.Lock()
    log_path = os.path.join(root, "requests.log")

    def component(c):
        return c and c not in (".", "..") and "/" not in c

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.answer(True)

        # uv asks with HEAD whether a wheel can be read in ranges; without
        # Accept-Ranges it downloads the whole file.
        def do_HEAD(self):
            self.answer(False)

        def answer(self, body):
            path = unquote(self.path.split("?", 1)[0])
            with log_lock, open(log_path, "a") as log:
                log.write(("" if body else "HEAD ") + path + "\n")
            file, ctype = self.locate(path)
            try:
                with open(file, "rb") as f:
                    data = f.read()
            except (OSError, TypeError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def locate(self, path):
            if path == "/simple" or path.startswith("/simple/"):
                rest = path[len("/simple"):].strip("/")
                if not rest:
                    return os.path.join(root, "pypi", "index.html"), "text/html"
                if not component(rest):
                    return None, None
                return os.path.join(root, "pypi", norm(rest), "index.html"), "text/html"
            if path.startswith("/files/"):
                parts = path[len("/files/"):].split("/")
                if len(parts) != 2 or not all(component(p) for p in parts):
                    return None, None
                return os.path.join(root, "pypi", parts[0], parts[1]), "application/octet-stream"
            name, sep, file = path[1:].partition("/-/")
            if sep:
                if not component(file):
                    return None, None
                return os.path.join(root, "npm", slot(name), file), "application/octet-stream"
            if not name or ".." in name.split("/"):
                return None, None
            return os.path.join(root, "npm", slot(name), "packument.json"), "application/json"

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main():
    cmd, root = sys.argv[1], sys.argv[2]
    if cmd == "serve":
        serve(root)
    elif cmd == "npm":
        print(json.dumps(npm(root, sys.argv[3], json.load(sys.stdin))))
    elif cmd == "wheel":
        print(json.dumps(wheel(root, sys.argv[3], json.load(sys.stdin))))
    elif cmd == "add-wheels":
        print(json.dumps(add_wheels(root, sys.argv[3], sys.argv[4:])))
    elif cmd == "add-tarballs":
        print(json.dumps(add_tarballs(root, sys.argv[3], sys.argv[4:])))
    else:
        sys.exit("registry.py: unknown command " + cmd)


main()
