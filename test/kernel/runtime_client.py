"""The kernel's runtime robustness through jupyter_client (run by runtime.test.ts, Debian's Python):
interrupts after plots and during train(), SIGTERM, process.exit() in a cell, uncaught exceptions
and unhandled rejections with the wasm backend loaded, the heartbeat while a cell computes, 2,000
displays from one cell, aborted replies and `exit`/`quit` compared with ipykernel.

Measured numbers are printed as `MEASURE name value` lines on stdout.
"""
import os
import signal
import time
import unittest

import zmq
from jupyter_cells import run_cell
from jupyter_client.manager import start_new_kernel

# Shown first by a cell that is going to be interrupted: the interrupt is sent once the cell runs
# (an interrupt that comes before the cell has started finds nothing to interrupt, as in ipykernel).
RUNNING = 'import * as tslab from "tslab"; tslab.display.text("running");\n'
PLOT = 'import { show } from "tsfreeze";\nawait show({ data: [{ type: "scatter", y: [1, 3, 2] }], layout: {} });'


def measure(name, value):
    print(f"MEASURE {name} {value}", flush=True)


def children(pid):
    """Pids of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def gone(pid):
    """Whether pid has exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pids, seconds):
    end = time.time() + seconds
    while time.time() < end and not all(gone(p) for p in pids):
        time.sleep(0.05)
    return all(gone(p) for p in pids)


def texts(msgs, kind="execute_result"):
    return [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == kind]


def stream(msgs, name=None):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and (name is None or m["content"]["name"] == name))


def reply_to(kc, msg_id, timeout=60):
    while True:
        r = kc.get_shell_msg(timeout=timeout)
        if r["parent_header"].get("msg_id") == msg_id:
            return r["content"]


class KernelTest(unittest.TestCase):
    """One fresh tsfreeze kernel per test class."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="tsfreeze")
        cls.pid = cls.km.provisioner.process.pid

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        if cls.km.is_alive():
            cls.km.shutdown_kernel(now=True)

    def run_cell(self, code, timeout=60, **kw):
        return run_cell(self.kc, code, timeout, **kw)

    def ok(self, code, timeout=60):
        reply, msgs = self.run_cell(code, timeout)
        self.assertEqual(reply["status"], "ok", f"{code!r}: {reply.get('ename')}: {reply.get('evalue')}\n{stream(msgs)}")
        return msgs

    def interrupt_after(self, code, delay, timeout=30):
        """Sends code, interrupts `delay` s after it started running (it shows RUNNING first); returns
        (reply, iopub messages, seconds from interrupt to reply, time of the interrupt)."""
        msg_id = self.kc.execute(RUNNING + code)
        msgs = []
        while not any(m["msg_type"] == "display_data" and m["content"]["data"].get("text/plain") == "running" for m in msgs):
            m = self.kc.get_iopub_msg(timeout=timeout)
            if m["parent_header"].get("msg_id") == msg_id:
                msgs.append(m)
        time.sleep(delay)
        t0 = time.time()
        self.km.interrupt_kernel()
        reply = reply_to(self.kc, msg_id, timeout)
        t1 = time.time()
        while True:
            m = self.kc.get_iopub_msg(timeout=30)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
            msgs.append(m)
        return reply, msgs, t1 - t0, t0


class InterruptAfterPlot(KernelTest):
    def test_interrupt_after_a_plot_keeps_the_kernel_and_its_variables(self):
        msgs = self.ok("const kept = 41;\n" + PLOT)
        shown = [m for m in msgs if m["msg_type"] == "display_data"]
        self.assertTrue(any("image/svg+xml" in m["content"]["data"] for m in shown), "the plot has its static SVG (drawn by Chromium)")
        # Interrupt while idle, right after the plot (Jupyter's interrupt button on an idle kernel).
        self.km.interrupt_kernel()
        time.sleep(0.5)
        self.assertTrue(self.km.is_alive(), "the kernel survives an interrupt while idle after a plot")
        reply, _, seconds, _ = self.interrupt_after("await new Promise(() => {})", 0.5)
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        reply, _, _, _ = self.interrupt_after("while (true) {}", 0.5)
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        self.assertTrue(self.km.is_alive())
        self.assertEqual(texts(self.ok("kept + 1")), ["42"])

    def test_a_foreign_signal_listener_is_removed_after_its_cell(self):
        reply, msgs = self.run_cell("process.on('SIGINT', () => { console.log('foreign handler ran'); process.exit(130) }); 1")
        self.assertEqual(reply["status"], "ok")
        self.assertIn("SIGINT", stream(msgs, "stderr"), "the kernel says it removed the listener")
        reply, msgs, _, _ = self.interrupt_after("await new Promise(() => {})", 0.3)
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        self.assertNotIn("foreign handler ran", stream(msgs))
        self.assertTrue(self.km.is_alive())


class ProcessExitAndFaults(KernelTest):
    def test_process_exit_in_a_cell_is_an_error_and_the_kernel_goes_on(self):
        self.ok("const survivor = 'still here'")
        for code in ["process.exit(3)", "process.exit()", "await Promise.resolve(); process.exit(0)"]:
            reply, msgs = self.run_cell(code, timeout=20)
            self.assertEqual(reply["status"], "error", code)
            self.assertEqual(reply["ename"], "ProcessExit", code)
            self.assertIn("process.exit(", reply["evalue"])
        self.assertEqual(texts(self.ok("survivor")), ["still here"])

    def test_uncaught_exceptions_and_rejections_with_the_wasm_backend(self):
        self.ok('import { setBackend, backendInfo } from "tsfreeze";\nawait setBackend("wasm");\nconst alive = 7;')
        self.assertEqual(texts(self.ok("backendInfo().name")), ["wasm"])
        # Thrown in a timer while the cell still runs: reported in that cell.
        msgs = self.ok('setTimeout(() => { throw new Error("thrown in a timer") }, 10);\nawait new Promise(r => setTimeout(r, 300));')
        self.assertIn("thrown in a timer", stream(msgs, "stderr"))
        msgs = self.ok('Promise.reject(new Error("nobody caught me"));\nawait new Promise(r => setTimeout(r, 300));')
        self.assertIn("nobody caught me", stream(msgs, "stderr"))
        # After the cell ended: reported on the last cell's output, the kernel goes on.
        late = self.kc.execute('setTimeout(() => { throw new Error("late throw") }, 200); setTimeout(() => Promise.reject(new Error("late rejection")), 300); 0')
        reply_to(self.kc, late)
        seen = ""
        end = time.time() + 10
        while time.time() < end and not ("late throw" in seen and "late rejection" in seen):
            try:
                m = self.kc.get_iopub_msg(timeout=1)
            except Exception:
                continue
            if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == late:
                seen += m["content"]["text"]
        self.assertIn("late throw", seen)
        self.assertIn("late rejection", seen)
        self.assertTrue(self.km.is_alive())
        self.assertEqual(texts(self.ok("alive * 6")), ["42"])


class LoadAndHeartbeat(KernelTest):
    def test_heartbeat_is_answered_while_a_cell_computes(self):
        info = self.km.get_connection_info()
        ctx = zmq.Context.instance()
        hb = ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect(f"{info['transport']}://{info['ip']}:{info['hb_port']}")
        msg_id = self.kc.execute("const until = Date.now() + 3000; while (Date.now() < until) {}")
        time.sleep(0.5)
        latencies = []
        for _ in range(10):
            t = time.time()
            hb.send(b"ping")
            self.assertTrue(hb.poll(5000), "heartbeat answered")
            self.assertEqual(hb.recv(), b"ping")
            latencies.append(time.time() - t)
            time.sleep(0.1)
        # Every beat was answered while the cell still ran: its reply has not come yet.
        early = []
        while True:
            try:
                early.append(self.kc.get_shell_msg(timeout=0.01)["parent_header"].get("msg_id"))
            except Exception:
                break
        self.assertNotIn(msg_id, early, "the cell was still computing when the last beat was answered")
        reply_to(self.kc, msg_id)
        hb.close()
        measure("heartbeat_busy_max_ms", round(max(latencies) * 1000, 1))
        measure("heartbeat_busy_median_ms", round(sorted(latencies)[len(latencies) // 2] * 1000, 1))

    def test_two_thousand_displays_and_the_reply_all_arrive(self):
        code = 'import * as tslab from "tslab";\nfor (let i = 0; i < 2000; i++) tslab.display.html(`<b>${i}</b>`);\n"done"'
        reply, msgs = self.run_cell(code, timeout=120)
        self.assertEqual(reply["status"], "ok")
        shown = [m["content"]["data"]["text/html"] for m in msgs if m["msg_type"] == "display_data"]
        self.assertEqual(shown, [f"<b>{i}</b>" for i in range(2000)])
        self.assertEqual(texts(msgs), ["done"])


class AbortAndExitAsIpykernel(unittest.TestCase):
    """The same requests to ipykernel and to tsfreeze: aborted replies and `exit`/`quit` look alike."""

    def scenario(self, kernel_name, failing):
        km, kc = start_new_kernel(kernel_name=kernel_name)
        try:
            first = kc.execute(failing)
            second = kc.execute("1")
            r1, r2 = reply_to(kc, first), reply_to(kc, second)
            self.assertEqual(r1["status"], "error")
            self.assertEqual(r2["status"], "aborted")
            # ipykernel aborts what arrives until its abort window closes: wait for a cell that runs.
            for _ in range(20):
                if reply_to(kc, kc.execute("1"))["status"] == "ok":
                    break
                time.sleep(0.1)
            exits = {}
            for word in ["exit", "quit"]:
                exits[word] = reply_to(kc, kc.execute(word))
            return r2, exits
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    def test_aborted_reply_and_exit_payload_match_ipykernel(self):
        py_aborted, py_exits = self.scenario("python3", "import time; time.sleep(0.3); raise ValueError('first fails')")
        ts_aborted, ts_exits = self.scenario("tsfreeze", 'await new Promise(r => setTimeout(r, 300)); throw new Error("first fails")')
        self.assertEqual(sorted(ts_aborted), sorted(py_aborted), "the aborted reply has the same fields (no execution_count: the prompt stays empty)")
        for word in ["exit", "quit"]:
            self.assertEqual(ts_exits[word]["status"], "ok", word)
            self.assertEqual(ts_exits[word]["payload"], py_exits[word]["payload"], word)


class TrainInterrupt(KernelTest):
    """An interrupt during train() (after a plot) stops it at the next step boundary: the model has
    the weights of its last whole step, the partial history is on the KeyboardInterrupt, nothing
    runs after the reply."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reply, msgs = run_cell(cls.kc, "\n".join([
            'import * as tf from "@tensorflow/tfjs";',
            'import { train, setBackend } from "tsfreeze";',
            'await setBackend("cpu");',
            'const net = tf.sequential({ layers: [tf.layers.dense({ units: 16, inputShape: [8], activation: "relu" }), tf.layers.dense({ units: 1 })] });',
            'const xs = tf.randomNormal([2048, 8], 0, 1, "float32", 1), ys = xs.sum(1, true);',
            'const weightsNow = () => JSON.stringify(net.getWeights().map(w => Array.from(w.dataSync())));',
            'let lastStep = "", stepTimes: number[] = [], partial: any;',
            PLOT,
        ]), 120)
        assert reply["status"] == "ok", reply

    def interrupt_training(self, progress, label):
        code = "\n".join([
            "stepTimes = []; partial = undefined;",
            "try {",
            f"  await train(net, {{ x: xs, y: ys }}, {{ loss: 'meanSquaredError', epochs: 10000, batchSize: 8, lr: 0.001, {progress}",
            "    onStep: () => { lastStep = weightsNow(); stepTimes.push(Date.now()); } });",
            "} catch (e) { partial = (e as any).history; throw e; }",
        ])
        reply, msgs, seconds, t0 = self.interrupt_after(code, 2.0, timeout=20)
        measure(f"train_interrupt_to_reply_s_{label}", round(seconds, 3))
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt", reply.get("evalue"))
        # At most the step under way when the interrupt came finished after it.
        after = texts(self.ok(f"stepTimes.filter(t => t > {int(t0 * 1000) + 20}).length"))
        self.assertLessEqual(int(after[0]), 1, "steps finished after the interrupt")
        self.assertEqual(texts(self.ok("weightsNow() === lastStep")), ["true"], "the weights are those of the last whole step")
        self.assertEqual(texts(self.ok("[partial.steps === stepTimes.length, partial.loss.length === stepTimes.length, stepTimes.length > 0]")), ["[ true, true, true ]"])
        before = texts(self.ok("[stepTimes.length, weightsNow().length]"))
        time.sleep(1.0)
        self.assertEqual(texts(self.ok("[stepTimes.length, weightsNow().length]")), before)
        self.assertEqual(texts(self.ok("weightsNow() === lastStep")), ["true"], "nothing trained after the reply")

    def test_interrupt_stops_train_with_the_live_view(self):
        self.interrupt_training("", "live_view")

    def test_interrupt_stops_train_without_a_view(self):
        self.interrupt_training("progress: false,", "no_view")


class SigtermAfterPlot(KernelTest):
    def test_sigterm_stops_a_busy_kernel_after_a_plot_and_its_chromium(self):
        self.ok(PLOT)
        browsers = children(self.pid)
        self.assertTrue(browsers, "a Chromium runs beside the kernel after the plot")
        self.kc.execute("while (true) {}")
        time.sleep(0.5)
        os.kill(self.pid, signal.SIGTERM)
        self.assertTrue(wait_gone([self.pid], 5), "SIGTERM stopped the busy kernel")
        self.assertTrue(wait_gone(browsers, 5), "its Chromium is gone too")


if __name__ == "__main__":
    unittest.main()
