#!/usr/bin/env python3
"""Records the requests real Kafka clients send, for the golden-byte codec tests.

A loopback TCP proxy: clients connect to --listen, every connection is forwarded to --broker, and each
request frame a client sends is written to --out as NAME-<api key>-v<version>.hex (the bytes after the size
prefix: request header and body, hex), the first frame of each (client label, key, version) only. The broker
must advertise the proxy's address (detkafka serve --advertised-listeners PLAINTEXT://127.0.0.1:<listen port>)
so that clients come back through it after bootstrap. The client label is taken from the client id in the
request header (set it per client). Stops after --seconds. Only 127.0.0.1 is used.
"""
import argparse, os, re, socket, struct, threading, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--broker", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    seen, lock = set(), threading.Lock()

    def record(frame):
        key, version = struct.unpack(">hh", frame[:4])
        (cid_len,) = struct.unpack(">h", frame[8:10])
        client = frame[10:10 + cid_len].decode("utf-8", "replace") if cid_len > 0 else "none"
        label = re.sub(r"[^a-z0-9]+", "-", client.lower()).strip("-") or "none"
        name = f"{label}-{key}-v{version}"
        with lock:
            if name in seen:
                return
            seen.add(name)
        with open(os.path.join(a.out, name + ".hex"), "w") as f:
            f.write(frame.hex() + "\n")

    def pump(src, dst, frames):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if frames:
                    buf += data
                    while len(buf) >= 4:
                        (size,) = struct.unpack(">i", buf[:4])
                        if len(buf) < 4 + size:
                            break
                        record(buf[4:4 + size])
                        buf = buf[4 + size:]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", a.listen))
    server.listen(64)
    server.settimeout(0.5)
    deadline = time.time() + a.seconds
    while time.time() < deadline:
        try:
            client, _ = server.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection(("127.0.0.1", a.broker))
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()

if __name__ == "__main__":
    main()
