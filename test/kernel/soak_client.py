"""A soak of the kernel through jupyter_client (run by soak.test.ts): CELLS cells, about a fifth of
them `train()` runs of a tiny model with the live view (progress and plot updated in place), the
rest printing, displaying, computing, failing and magics, sent 25 at a time as Run All does, with
kernel_info, complete, inspect, is_complete and history requests between them. Every request
must get exactly one reply, every execute request its idle status, and every cell its outputs.

Usage: soak_client.py CELLS
"""
import sys
import time
from collections import defaultdict
from queue import Empty

from jupyter_client.manager import start_new_kernel

SETUP = "\n".join([
    'import * as tf from "@tensorflow/tfjs";',
    'import { train, setBackend } from "tsfreeze";',
    'import * as tslab from "tslab";',
    'await setBackend("cpu");',
    'const net = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 1 })] });',
    'const xs = tf.randomNormal([32, 3], 0, 1, "float32", 3), ys = xs.sum(1, true);',
])


def cell(i):
    """(code, check) for cell i; check(outputs) returns an error text or None."""
    kind = i % 5
    if kind == 0:
        code = "(await train(net, { x: xs, y: ys }, { loss: 'meanSquaredError', epochs: 1, batchSize: 8, lr: 0.01 })).steps"
        def check(out):
            if out["result"] != ["4"]:
                return f"train result {out['result']}"
            if not any("application/vnd.plotly.v1+json" in d for d in out["displays"]):
                return "no live plot"
            return None
        return code, check
    if kind == 1:
        code = f'for (let k = 0; k < 50; k++) console.log("line", {i}, k)'
        expected = "".join(f"line {i} {k}\n" for k in range(50))
        return code, lambda out: None if out["stdout"] == expected else f"stdout {out['stdout'][:80]!r}..."
    if kind == 2:
        code = f'for (let k = 0; k < 20; k++) tslab.display.html(`<i>{i}:${{k}}</i>`)'
        expected = [f"<i>{i}:{k}</i>" for k in range(20)]
        return code, lambda out: None if [d.get("text/html") for d in out["displays"]] == expected else f"displays {len(out['displays'])}"
    if kind == 3:
        if i % 15 == 3:
            return f'throw new Error("planned failure {i}")', lambda out: None if out["error"] == f"planned failure {i}" else f"error {out['error']}"
        return f"%time {i} * 2", lambda out: None if out["result"] == [str(i * 2)] else f"result {out['result']}"
    code = f"const v{i}: number = {i}; v{i} + 1"
    return code, lambda out: None if out["result"] == [str(i + 1)] else f"result {out['result']}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    km, kc = start_new_kernel(kernel_name="tsfreeze")
    t0 = time.time()
    try:
        pending = {}  # msg_id -> (kind, index)
        replies = defaultdict(list)
        idles = defaultdict(int)
        outputs = defaultdict(lambda: {"stdout": "", "displays": [], "result": [], "error": None})
        checks = {}

        def outstanding():
            return sum(1 for m in pending if not replies[m])

        def finished():
            return all(replies[m] and (pending[m][0] != "execute" or idles[m]) for m in pending)

        def pump(done):
            while not done():
                got = False
                try:
                    r = kc.get_shell_msg(timeout=0.05)
                    replies[r["parent_header"].get("msg_id")].append(r)
                    got = True
                except Empty:
                    pass
                while True:
                    try:
                        m = kc.get_iopub_msg(timeout=0.001 if got else 0.05)
                    except Empty:
                        break
                    pid = m["parent_header"].get("msg_id")
                    t, c = m["msg_type"], m["content"]
                    if t == "status" and c["execution_state"] == "idle":
                        idles[pid] += 1
                    elif t == "stream" and c["name"] == "stdout":
                        outputs[pid]["stdout"] += c["text"]
                    elif t in ("display_data", "update_display_data"):
                        outputs[pid]["displays"].append(c["data"])
                    elif t == "execute_result":
                        outputs[pid]["result"].append(c["data"]["text/plain"])
                    elif t == "error":
                        outputs[pid]["error"] = c["evalue"]
                if time.time() - t0 > 600:
                    raise RuntimeError("soak did not finish in 600 s")

        setup = kc.execute(SETUP, stop_on_error=False)
        pending[setup] = ("execute", -1)
        checks[setup] = lambda out: None
        pump(finished)
        for i in range(n):
            code, check = cell(i)
            mid = kc.execute(code, stop_on_error=False)
            pending[mid] = ("execute", i)
            checks[mid] = check
            if i % 7 == 0:
                pending[kc.complete("net.summ", 8)] = ("complete", i)
                pending[kc.inspect("Math.max", 8)] = ("inspect", i)
                pending[kc.is_complete("function f() {")] = ("is_complete", i)
                pending[kc.kernel_info()] = ("kernel_info", i)
                pending[kc.history(hist_access_type="tail", n=5)] = ("history", i)
            pump(lambda: outstanding() < 25)
        pump(finished)
        seconds = time.time() - t0
        problems = []
        for mid, (kind, i) in pending.items():
            if len(replies[mid]) != 1:
                problems.append(f"{kind} {i}: {len(replies[mid])} replies")
            if kind == "execute":
                if idles[mid] != 1:
                    problems.append(f"cell {i}: {idles[mid]} idle statuses")
                bad = checks[mid](outputs[mid])
                if bad:
                    problems.append(f"cell {i}: {bad}")
        requests = len(pending)
        print(f"MEASURE soak_requests {requests}")
        print(f"MEASURE soak_seconds {seconds:.1f}")
        for p in problems[:40]:
            print("PROBLEM", p)
        print(f"{requests} requests, {len(problems)} problems", flush=True)
        sys.exit(1 if problems else 0)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
