"""Jupyter protocol conformance of the tsfreeze kernel, by Jupyter's own kernel tester.

Run by test/kernel/conformance.test.ts with JUPYTER_PATH pointing at a temporary prefix where
`tsfreeze install --prefix` put the kernelspec. Uses Debian's jupyter_client and
jupyter_kernel_test (/usr/bin/python3).
"""
import time
import unittest
from queue import Empty

import jupyter_kernel_test
from jupyter_cells import run_cell
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session


class TsfreezeKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "tsfreeze"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    completion_samples = [
        {"text": "Math.flo", "matches": {"floor"}},
        {"text": "%lsma", "matches": {"%lsmagic"}},
    ]
    complete_code_samples = ["1 + 1", "let x = 3", "function f() { return 1 }", "%lsmagic", "%%time\n1"]
    incomplete_code_samples = ["function f() {", "let y = [1, 2,", "x = 1 +"]
    invalid_code_samples = [")", "const = 5;", "}}"]
    code_page_something = "%lsmagic?"
    code_generate_error = 'throw new Error("boom")'
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": '"a" + "b"', "result": "ab"},
        {"code": "[1, 2].map(v => v * 2)", "result": "[ 2, 4 ]"},
    ]
    code_display_data = [
        {"code": 'import * as tslab from "tslab"; tslab.display.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'import * as tslab from "tslab"; tslab.display.png(new Uint8Array([137, 80, 78, 71]))', "mime": "image/png"},
    ]
    code_history_pattern = "1 + *"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "Math.max"

    code_clear_output = ""


class TsfreezeProtocolTests(unittest.TestCase):
    """What jupyter_kernel_test does not cover: execute_input, errors, stop_on_error, interrupt,
    history across cells, comm_info, signatures, magics through a real client."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="tsfreeze")

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def run_cell(self, code, timeout=30, **kw):
        """Executes code; returns (reply content, iopub messages of that request until idle)."""
        return run_cell(self.kc, code, timeout, **kw)

    def test_execute_input_carries_execution_count(self):
        reply, msgs = self.run_cell("40 + 2")
        inputs = [m for m in msgs if m["msg_type"] == "execute_input"]
        results = [m for m in msgs if m["msg_type"] == "execute_result"]
        self.assertEqual(len(inputs), 1)
        self.assertEqual(inputs[0]["content"]["code"], "40 + 2")
        self.assertEqual(inputs[0]["content"]["execution_count"], reply["execution_count"])
        self.assertEqual(results[0]["content"]["execution_count"], reply["execution_count"])
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "42")
        reply2, _ = self.run_cell("1")
        self.assertEqual(reply2["execution_count"], reply["execution_count"] + 1)

    def test_error_message_has_ename_evalue_traceback(self):
        reply, msgs = self.run_cell('throw new RangeError("out of range")')
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["ename"], "RangeError")
        self.assertEqual(errors[0]["evalue"], "out of range")
        self.assertTrue(errors[0]["traceback"][0].startswith("RangeError: out of range"))
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "RangeError")

    def test_type_error_is_an_error_message(self):
        reply, msgs = self.run_cell('const n: number = "text"')
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(reply["status"], "error")
        self.assertEqual(errors[0]["ename"], "CompileError")
        self.assertIn("not assignable to type 'number'", errors[0]["evalue"])

    def queue_two(self, stop_on_error):
        """Sends a failing cell and, before its reply, a second cell; returns both replies."""
        first = self.kc.execute('await new Promise(r => setTimeout(r, 300)); throw new Error("first fails")', stop_on_error=stop_on_error)
        second = self.kc.execute('"second ran"')
        replies = {}
        while len(replies) < 2:
            r = self.kc.get_shell_msg(timeout=30)
            replies[r["parent_header"]["msg_id"]] = r["content"]
        return replies[first], replies[second]

    def test_stop_on_error_aborts_the_queued_cell(self):
        first, second = self.queue_two(stop_on_error=True)
        self.assertEqual(first["status"], "error")
        self.assertEqual(second["status"], "aborted")
        # The kernel goes on with what comes after the abort.
        reply, _ = self.run_cell("2 * 21")
        self.assertEqual(reply["status"], "ok")

    def test_stop_on_error_false_runs_the_next_cell(self):
        first, second = self.queue_two(stop_on_error=False)
        self.assertEqual(first["status"], "error")
        self.assertEqual(second["status"], "ok")

    def interrupt_after(self, code, delay=1.0):
        msg_id = self.kc.execute(code)
        time.sleep(delay)
        self.km.interrupt_kernel()
        reply = self.kc.get_shell_msg(timeout=30)
        while reply["parent_header"]["msg_id"] != msg_id:
            reply = self.kc.get_shell_msg(timeout=30)
        return reply["content"]

    def test_interrupt_busy_loop(self):
        reply = self.interrupt_after("let spins = 0; while (true) { spins++ }")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        after, _ = self.run_cell('"alive"')
        self.assertEqual(after["status"], "ok")

    def test_interrupt_pending_await(self):
        reply = self.interrupt_after("await new Promise(() => {})")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        after, msgs = self.run_cell("6 * 7")
        self.assertEqual(after["status"], "ok")
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["42"])

    def test_comm_info_reply(self):
        msg_id = self.kc.comm_info()
        reply = self.kc.get_shell_msg(timeout=10)
        self.assertEqual(reply["msg_type"], "comm_info_reply")
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(reply["content"]["comms"], {})

    def test_kernel_info_has_status(self):
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=10)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(reply["content"]["implementation"], "tsfreeze")

    def test_history_search_across_cells(self):
        self.run_cell("const historyMarker = 123")
        self.run_cell("historyMarker + 1")
        self.kc.history(hist_access_type="search", pattern="*historyMarker*", output=True, raw=True)
        reply = self.kc.get_shell_msg(timeout=10)
        inputs = [h[2][0] for h in reply["content"]["history"]]
        self.assertEqual(inputs, ["const historyMarker = 123", "historyMarker + 1"])
        self.assertEqual(reply["content"]["history"][-1][2][1], "124")

    def test_bad_signature_is_rejected(self):
        forged = self.kc.session.msg("execute_request", {"code": "globalThis.forged = 1", "silent": False})
        bad = Session(key=b"not-the-key", session=self.kc.session.session)
        bad.send(self.kc.shell_channel.socket, forged)
        with self.assertRaises(Empty):
            self.kc.get_shell_msg(timeout=2)
        reply, msgs = self.run_cell("(globalThis as any).forged === undefined")
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["true"])

    def test_unknown_magic_is_a_usage_error_and_the_kernel_goes_on(self):
        reply, msgs = self.run_cell("%nosuchmagic 1 2")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "UsageError")
        self.assertIn("%lsmagic", reply["evalue"])
        reply, _ = self.run_cell("%time 1 + 1", )
        self.assertEqual(reply["status"], "ok")

    def test_bad_magic_arguments_are_a_usage_error(self):
        reply, _ = self.run_cell("%lsmagic extra words")
        self.assertEqual(reply["ename"], "UsageError")
        self.assertIn("usage: %lsmagic", reply["evalue"])

    def test_line_magics_between_typescript_lines_share_variables(self):
        reply, msgs = self.run_cell("const base: number = 20\n%time const twice = base * 2\ntwice + 2")
        self.assertEqual(reply["status"], "ok")
        out = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
        self.assertIn("Wall time:", out)
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["42"])
        # twice is typed: a type error proves the declaration carried its type.
        reply, _ = self.run_cell('const s: string = twice')
        self.assertEqual(reply["ename"], "CompileError")

    def test_cell_magic_time(self):
        reply, msgs = self.run_cell("%%time\nlet acc = 0\nfor (let i = 0; i < 1000; i++) acc += i\nacc")
        self.assertEqual(reply["status"], "ok")
        self.assertIn("Wall time:", "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream"))
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["499500"])

    def test_magic_help_and_lsmagic(self):
        reply, _ = self.run_cell("%time?")
        self.assertEqual(reply["payload"][0]["source"], "page")
        self.assertIn("usage: %time", reply["payload"][0]["data"]["text/plain"])
        reply, msgs = self.run_cell("%lsmagic")
        data = [m["content"]["data"] for m in msgs if m["msg_type"] == "execute_result"][0]
        self.assertIn("%time %%time", data["text/plain"])
        self.assertIn("<table>", data["text/html"])

    def test_magic_completion(self):
        self.kc.complete("%ti", 3)
        reply = self.kc.get_shell_msg(timeout=10)
        self.assertIn("%time", reply["content"]["matches"])
        self.assertEqual(reply["content"]["cursor_start"], 0)

    def test_update_display_data(self):
        code = 'import * as tslab from "tslab"; const d = tslab.newDisplay(); d.text("first"); d.text("second")'
        reply, msgs = self.run_cell(code)
        kinds = [m["msg_type"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]
        self.assertEqual(kinds, ["display_data", "update_display_data"])
        ids = {m["content"]["transient"]["display_id"] for m in msgs if m["msg_type"] in ("display_data", "update_display_data")}
        self.assertEqual(len(ids), 1)

    def test_train_updates_one_plot_in_place(self):
        code = "\n".join([
            'import * as tf from "@tensorflow/tfjs";',
            'import { train, setBackend, freeze } from "tsfreeze";',
            'await setBackend("cpu");',
            'const net = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 1 })] });',
            'freeze(net, "0.*");',
            'const xs = tf.randomNormal([64, 3], 0, 1, "float32", 7), ys = xs.sum(1, true);',
            'const h = await train(net, { x: xs, y: ys }, { loss: "meanSquaredError", epochs: 2, batchSize: 16, lr: 0.01 });',
            'h.steps',
        ])
        reply, msgs = self.run_cell(code, timeout=120)
        self.assertEqual(reply["status"], "ok", reply.get("evalue"))
        shows = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")]
        plots = [m for m in shows if "application/vnd.plotly.v1+json" in m["content"]["data"]]
        self.assertGreaterEqual(len(plots), 2)
        self.assertEqual(plots[0]["msg_type"], "display_data")
        self.assertTrue(all(m["msg_type"] == "update_display_data" for m in plots[1:]))
        self.assertEqual(len({m["content"]["transient"]["display_id"] for m in plots}), 1, "one plot, updated in place")
        self.assertTrue(all("image/png" not in m["content"]["data"] for m in shows))
        progress = [m for m in shows if m["content"]["transient"]["display_id"].startswith("tsfreeze-progress-")]
        self.assertIn("done: 8 steps", progress[-1]["content"]["data"]["text/plain"])
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"], ["8"])


if __name__ == "__main__":
    unittest.main()
