#!/usr/bin/python3
# grpc_peer.py – the gRPC server and client of make-h2-pcaps.sh (Debian's python3-grpcio; no
# generated code: methods carry raw bytes). The server logs each call it served as one JSON
# line (method, messages received and sent, status code and details): the capture's truth.
#
#   grpc_peer.py server PORT LOG      serve pktlog.Echo on 127.0.0.1:PORT until killed
#   grpc_peer.py client PORT          unary, server/client/bidi streaming, an error, a deadline
#   grpc_peer.py watch PORT N PAUSE   one quiet server-streaming call: N messages, PAUSE s apart
import json
import sys
import threading
import time

import grpc

SVC = "pktlog.Echo"
_lock = threading.Lock()


def serve(port, logpath):
    log = open(logpath, "a", buffering=1)

    def record(method, got, sent, code, details=""):
        with _lock:
            log.write(json.dumps({"method": f"/{SVC}/{method}", "requests": got,
                                  "responses": sent, "code": code.value[0],
                                  "code_name": code.name, "details": details}) + "\n")

    def unary(req, ctx):
        record("Unary", 1, 1, grpc.StatusCode.OK)
        return b"echo:" + req

    def server_stream(req, ctx):
        n = int(req.decode() or "3")
        for i in range(n):
            yield b"part %d of %d" % (i, n)
        record("ServerStream", 1, n, grpc.StatusCode.OK)

    def client_stream(it, ctx):
        got = sum(1 for _ in it)
        record("ClientStream", got, 1, grpc.StatusCode.OK)
        return b"got %d" % got

    def bidi(it, ctx):
        got = 0
        for m in it:
            got += 1
            yield b"re:" + m
        record("Bidi", got, got, grpc.StatusCode.OK)

    def fail(req, ctx):
        record("Fail", 1, 0, grpc.StatusCode.NOT_FOUND, "no such thing")
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def slow(req, ctx):
        time.sleep(1.0)
        record("Slow", 1, 0, grpc.StatusCode.DEADLINE_EXCEEDED, "client deadline 0.3 s")
        return b"too late"

    def watch(req, ctx):
        n, pause = req.decode().split()
        for i in range(int(n)):
            time.sleep(float(pause))
            yield b"tick %d" % i
        record("Watch", 1, int(n), grpc.StatusCode.OK)

    handlers = {
        "Watch": grpc.unary_stream_rpc_method_handler(watch),
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SVC, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def client(port):
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=10)
    m = lambda kind, name: getattr(ch, kind)(f"/{SVC}/{name}")
    assert m("unary_unary", "Unary")(b"hello", timeout=10) == b"echo:hello"
    assert m("unary_unary", "Unary")(b"x" * 3000, timeout=10) == b"echo:" + b"x" * 3000
    assert len(list(m("unary_stream", "ServerStream")(b"5", timeout=10))) == 5
    assert m("stream_unary", "ClientStream")(iter([b"a", b"bb", b"ccc", b"dddd"]),
                                             timeout=10) == b"got 4"
    assert len(list(m("stream_stream", "Bidi")(iter([b"1", b"2", b"3"]), timeout=10))) == 3
    try:
        m("unary_unary", "Fail")(b"?", timeout=10)
        raise SystemExit("Fail did not fail")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    try:
        m("unary_unary", "Slow")(b"zzz", timeout=0.3)
        raise SystemExit("Slow did not time out")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    time.sleep(1.2)    # let the server finish (and log) the slow call before the channel goes
    ch.close()


def watch_client(port, n, pause):
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=10)
    call = ch.unary_stream(f"/{SVC}/Watch")
    got = list(call(f"{n} {pause}".encode(), timeout=n * float(pause) + 30))
    assert len(got) == n, got
    time.sleep(0.5)    # the server logs the call after its last message
    ch.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "watch":
        watch_client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        client(int(sys.argv[2]))
