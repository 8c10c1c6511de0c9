"""The transfer-learning magics of the tsfreeze kernel, through a real Jupyter client.

Run by test/kernel/magics.test.ts with JUPYTER_PATH pointing at a temporary prefix where
`tsfreeze install --prefix` put the kernelspec, from this folder (so ../fixtures is the
fixtures folder). Uses Debian's jupyter_client (/usr/bin/python3).
"""
import re
import unittest

from jupyter_client.manager import start_new_kernel
from jupyter_cells import run_cell

DP = "../fixtures/torch/dataparallel.pt"

SETUP = """
import * as tf from '@tensorflow/tfjs';
import { setBackend, stateDictOf, train, readCheckpoint, freeze, trainableSummary } from 'tsfreeze';
await setBackend('cpu');
/** The TF.js mirror of the PyTorch fixture net (keys 0.*, 1.*, 4.*, head.fc.*). */
function seqNet() {
  const head = tf.sequential({ name: 'head', layers: [tf.layers.dense({ units: 2, name: 'fc', inputShape: [3] })] });
  return tf.sequential({ layers: [
    tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }),
    tf.layers.batchNormalization({ epsilon: 1e-5 }), tf.layers.reLU(), tf.layers.flatten(),
    tf.layers.dense({ units: 3 }), head] });
}
const x = tf.randomNormal([16, 8, 8, 1], 0, 1, 'float32', 1);
const y = tf.randomNormal([16, 2], 0, 1, 'float32', 2);
// One object: tslab does not resolve a shorthand { x } to an earlier cell's x.
const data = { x, y };
const model = seqNet();
const ckpt = (await readCheckpoint('%s')).stateDict;
""" % DP


class MagicsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="tsfreeze")
        reply, _ = cls.run_cell(SETUP, timeout=90)
        assert reply["status"] == "ok", reply

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    @classmethod
    def run_cell(cls, code, timeout=60):
        """Executes code; returns (reply content, iopub messages of that request until idle)."""
        return run_cell(cls.kc, code, timeout)

    def ok(self, code):
        """Runs a cell that must succeed; returns its bundles (display_data, then execute_result)."""
        reply, msgs = self.run_cell(code)
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        self.assertEqual(reply["status"], "ok", f"{code!r} failed: {reply.get('ename')}: {reply.get('evalue')} {errors}")
        return [m["content"]["data"] for m in msgs if m["msg_type"] in ("display_data", "execute_result")]

    def result(self, code):
        """The execute_result bundle of a cell that must succeed."""
        bundles = self.ok(code)
        self.assertTrue(bundles, f"{code!r} showed nothing")
        return bundles[-1]

    def value(self, code):
        """The text/plain value of a TypeScript expression."""
        return self.result(code)["text/plain"]

    def fails(self, code, ename):
        """Runs a cell that must fail with `ename`; returns (evalue, bundles shown before the error)."""
        reply, msgs = self.run_cell(code)
        self.assertEqual(reply["status"], "error", f"{code!r} should fail")
        self.assertEqual(reply["ename"], ename, reply["evalue"])
        self.assertTrue(any(m["msg_type"] == "error" and m["content"]["ename"] == ename for m in msgs))
        return reply["evalue"], [m["content"]["data"] for m in msgs if m["msg_type"] == "display_data"]

    def complete(self, code):
        self.kc.complete(code, len(code))
        reply = self.kc.get_shell_msg(timeout=30)
        self.assertEqual(reply["content"]["status"], "ok")
        c = reply["content"]
        return c["matches"], c["cursor_start"]

    # ---- %diffkeys

    def test_diffkeys_path_vs_model_table_and_ready_to_run_rename(self):
        data = self.result(f"%diffkeys {DP} model --limit 5")
        text, html = data["text/plain"], data["text/html"]
        self.assertIn("0 matched, 0 shape-mismatched, 10 only in A, 10 only in B; ignored apart: 1 in A, 0 in B", text)
        self.assertIn("compared in PyTorch's naming and layout", text)
        self.assertIn("B: model (model) — PyTorch's naming and layout, from the model by the layer table", text)
        self.assertIn("ignored (no TF.js twin, never loaded; not counted above):\n  A: 1 × num_batches_tracked", text)
        # Shapes next to keys, in PyTorch's layout on both sides.
        self.assertRegex(text, r"module\.0\.weight +\[4, 1, 3, 3\]")
        self.assertRegex(text, r"\n +1\.running_mean +\[4\]\n  … and 5 more\n")
        # The suggestion as magic and TypeScript lines that run as written.
        self.assertIn(f"%load model {DP} --rename strip:module.", text)
        self.assertIn(f'renameKeys((await readCheckpoint("{DP}")).stateDict, {{"stripPrefix":"module."}})', text)
        # HTML: colour-coded counts, lists longer than --limit collapsed, the rename line.
        self.assertIn("tsfreeze-diffkeys", html)
        self.assertRegex(html, r"<details><summary[^>]*><span[^>]*><b>10</b> only in A")
        self.assertRegex(html, r"<b>1</b> ignored</span> <span[^>]*>no TF\.js twin, never loaded: A 1 × num_batches_tracked")
        self.assertIn(f"%load model {DP} --rename strip:module.", html)
        self.assertNotIn("<b>0</b> matched</span>(click", html)

    def test_diffkeys_statedict_variables_matched_and_mismatched(self):
        self.ok("%rename ckpt strip:module. --as dk_clean")
        self.ok("const dk_other = new Map(dk_clean); dk_other.set('4.weight', { dtype: 'float32', shape: [5, 144], data: new Float32Array(720) }); dk_other.delete('head.fc.bias');")
        text = self.result("%diffkeys dk_clean dk_other")["text/plain"]
        self.assertIn("8 matched, 1 shape-mismatched, 1 only in A, 0 only in B; ignored apart: 1 in A, 1 in B", text)
        self.assertRegex(text, r"4\.weight +\[3, 144\] vs \[5, 144\]")
        self.assertIn("only in A (1):\n  head.fc.bias", text)

    def test_diffkeys_wrong_words_are_usage_errors(self):
        evalue, _ = self.fails("%diffkeys nosuch model", "UsageError")
        self.assertIn("'nosuch' is neither a variable of this session nor a file", evalue)
        self.assertIn("usage: %diffkeys A B", evalue)
        self.assertRegex(evalue, r"models or StateDicts in this session: .*\bckpt\b.*\bmodel\b")
        evalue, _ = self.fails("%diffkeys x model", "UsageError")
        self.assertIn("'x' is a Tensor, not a model", evalue)
        evalue, _ = self.fails("%diffkeys model", "UsageError")
        self.assertIn("expected 2 arguments, got 1", evalue)
        evalue, _ = self.fails(f"%diffkeys {DP} model --limit zero", "UsageError")
        self.assertIn("--limit takes a positive integer", evalue)

    # ---- %load and %rename

    def test_load_without_rename_warns_with_the_fix_then_loads_with_it(self):
        self.ok("const lm = seqNet();")
        data = self.result(f"%load lm {DP}")
        self.assertIn("Loaded 0 of lm's 10 weights", data["text/plain"])
        self.assertIn("NOTHING was loaded", data["text/plain"])
        self.assertIn(f"fix: %load lm {DP} --rename strip:module.", data["text/plain"])
        self.assertIn("The rename that fixes it", data["text/html"])
        self.assertIn(f"%load lm {DP} --rename strip:module.", data["text/html"])

        data = self.result(f"%load lm {DP} --rename strip:module. --strict")
        self.assertIn("10 loaded, 0 missing, 0 unexpected, 0 shape-mismatched, 1 ignored", data["text/plain"])
        self.assertIn("renames applied: strip:module.", data["text/plain"])
        # _load is a typed LoadReport: a cell that misuses it does not compile.
        self.assertEqual(self.value("const n: number = _load.loaded.length; n"), "10")
        self.assertEqual(self.value("_load.ignored[0]"), "1.num_batches_tracked")
        reply, _ = self.run_cell("const wrong: string = _load.loaded;")
        self.assertEqual(reply["status"], "error")
        # The weights are PyTorch's, in TF.js's layout: conv weight [O,I,kh,kw] -> kernel [kh,kw,I,O].
        same = self.value(
            "(() => { const w = ckpt.get('module.0.weight')!.data as Float32Array;"
            " const k = lm.layers[0].getWeights()[0].arraySync() as number[][][][];"
            " return k[1][2][0][3] === w[3 * 9 + 1 * 3 + 2]; })()")
        self.assertEqual(same, "true")

    def test_load_from_a_statedict_variable_with_map_auto_and_as(self):
        self.ok("const lm2 = seqNet();")
        text = self.result("%load lm2 ckpt --map auto --as rep2")["text/plain"]
        self.assertIn("Loaded 10 of lm2's 10 weights from ckpt", text)
        self.assertIn("the report is rep2", text)
        self.assertEqual(self.value("rep2.missing.length"), "0")

    def test_load_failures_show_the_report_and_fail(self):
        self.ok("const small = tf.sequential({ layers: [tf.layers.conv2d({ filters: 5, kernelSize: 3, inputShape: [8, 8, 1] })] });")
        evalue, shown = self.fails(f"%load small {DP} --rename strip:module.", "LoadError")
        self.assertIn("shape mismatch", evalue)
        self.assertTrue(shown and "Nothing was loaded" in shown[0]["text/plain"], shown)
        self.assertIn("0.weight (checkpoint [4,1,3,3] vs model [5,1,3,3])", shown[0]["text/plain"])
        evalue, _ = self.fails(f"%load lm {DP} --rename nope:x", "UsageError")
        self.assertIn("unknown form in rename rule \"nope:x\"", evalue)
        self.assertIn("strip:PREFIX", evalue)
        evalue, _ = self.fails(f"%load lm {DP} --from jax", "UsageError")
        self.assertIn("--from takes torch or tfjs", evalue)
        evalue, _ = self.fails("%load ckpt model", "UsageError")
        self.assertIn("'ckpt' is a StateDict (a Map from key to tensor), not a model", evalue)

    def test_load_rebuilds_a_whole_pickled_module_as_a_new_variable(self):
        import os, tempfile
        import torch
        from torch import nn
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
        m.eval()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "whole.pt")
            torch.save(m, path)
            x = torch.randn(2, 1, 8, 8)
            with torch.no_grad():
                want = m(x).numpy().ravel().tolist()
            text = self.result(f"%load net {path} --input-shape 8,8,1")["text/plain"]
            self.assertIn("rebuilt net: a TF.js Sequential of 251 parameters", text)
            self.assertIn("Loaded 8 of net's 8 weights", text)
            got = self.value("JSON.stringify(Array.from((net.predict(tf.transpose(tf.tensor4d(%s, [2, 1, 8, 8]), [0, 2, 3, 1])) as tf.Tensor).dataSync()))" % x.numpy().ravel().tolist())
            got = [float(v) for v in got.strip("'").strip("[]").split(",")]
            self.assertLess(max(abs(a - b) for a, b in zip(got, want)), 1e-5)
            self.assertEqual(self.value("_load.loaded.length"), "8")
            evalue, _ = self.fails(f"%load net2 {path}", "UsageError")
            self.assertIn("inputShape", evalue)
        evalue, _ = self.fails("%load net3 ../fixtures/torch/whole_module.pt", "UsageError")
        self.assertIn("a class with its own forward()", evalue)
        evalue, _ = self.fails("%load net4 ckpt", "UsageError")
        self.assertIn("ckpt is a session variable", evalue)

    def test_rename_defines_a_new_statedict_and_shows_old_and_new_keys(self):
        # A regular expression as written, unquoted: its backslashes stay.
        data = self.result("%rename ckpt strip:module. s/^head\\.fc\\./classifier./")
        text = data["text/plain"]
        self.assertIn("ckpt_renamed = ckpt with strip:module. then s/^head\\.fc\\./classifier./: 11 of 11 keys renamed", text)
        self.assertRegex(text, r"module\.head\.fc\.bias +→  classifier\.bias")
        self.assertEqual(self.value("[...ckpt_renamed.keys()].join(' ')"),
                         "0.weight 0.bias 1.weight 1.bias 1.running_mean 1.running_var 1.num_batches_tracked 4.weight 4.bias classifier.weight classifier.bias")
        # The original is left as it was, and the result is a typed StateDict.
        self.assertEqual(self.value("[...ckpt.keys()][0]"), "module.0.weight")
        self.assertEqual(self.value("const t: number[] = ckpt_renamed.get('4.weight')!.shape; t"), "[ 3, 144 ]")
        text = self.result("%rename ckpt strip:nothing. --as same")["text/plain"]
        self.assertIn("0 of 11 keys renamed", text)
        self.assertIn("no key changed", text)
        evalue, _ = self.fails("%rename ckpt strip:module. --as 1bad", "UsageError")
        self.assertIn("--as takes a variable name", evalue)

    # ---- %freeze, train(), %checkfrozen, %unfreeze

    def test_freeze_train_checkfrozen_and_a_change_behind_the_back(self):
        self.ok(f"const fm = seqNet();\n%load fm {DP} --rename strip:module.")
        text = self.result("%freeze fm 0 1")["text/plain"]
        self.assertIn("froze 6 tensors of fm ('0', '1')", text)
        self.assertIn("BatchNorm layers now normalising with their frozen moving statistics: '1'", text)
        self.assertIn("Trainable params: 443 · Frozen params: 56 (of which BatchNorm statistics: 8) · Total: 499", text)
        self.ok("const fh = await train(fm, data, { loss: 'meanSquaredError', epochs: 2, batchSize: 8, progress: false });")
        self.assertEqual(self.value("fh.frozen.length"), "6")
        data = self.result("%checkfrozen fm")
        self.assertRegex(data["text/plain"], r"^unchanged: all 6 frozen tensors of fm \(56 elements\) are exactly as in the fingerprint %freeze took")
        # A frozen weight changed behind the back: the cell fails and names it, with how far it moved.
        self.ok("{ const [k, b] = fm.layers[0].getWeights(); fm.layers[0].setWeights([k.add(0.25), b]); }")
        evalue, shown = self.fails("%checkfrozen fm", "FrozenWeightError")
        self.assertIn("0.kernel (max |change| 0.250, 36 elements)", evalue)
        self.assertRegex(shown[0]["text/plain"], r"1 of 6 frozen tensors of fm changed since .*\n +0\.kernel +max \|change\| 0\.250 +\(36 of 36 elements\)")
        self.assertRegex(shown[0]["text/html"], r"<td[^>]*>0\.kernel</td><td[^>]*>0\.250</td>")
        # --warn shows without failing; --reset takes a new reference.
        self.assertIn("1 of 6 frozen tensors of fm changed", self.result("%checkfrozen fm --warn")["text/plain"])
        self.assertIn("took a new fingerprint of fm's 6 frozen tensors", self.result("%checkfrozen fm --reset")["text/plain"])
        self.assertIn("unchanged: all 6", self.result("%checkfrozen fm")["text/plain"])

    def test_freeze_by_what_was_loaded_regex_and_bn_stats_train(self):
        self.ok(f"const gm = seqNet();\n%load gm {DP} --rename replace:module.head.=head.")
        # _load holds only the head: freezing it freezes exactly those two tensors.
        text = self.result("%freeze gm _load")["text/plain"]
        self.assertIn("froze 2 tensors of gm (_load (the 2 keys it loaded))", text)
        self.assertIn("frozen: head.fc.kernel, head.fc.bias", text)
        text = self.result("%freeze gm /^1\\./ --bn-stats train")["text/plain"]
        self.assertIn("froze 2 tensors of gm (/^1\\./)", text)  # gamma and beta; the statistics keep training
        self.assertEqual(self.value("trainableSummary(gm).layers.find((l) => l.key === '1')!.trainable"), "0")
        evalue, _ = self.fails("%freeze gm 0 --bn-stats maybe", "UsageError")
        self.assertIn("--bn-stats takes freeze or train", evalue)
        evalue, _ = self.fails("%freeze gm nothing.*", "UsageError")
        self.assertIn("'nothing.*' matches no weight of gm; its keys are 0.kernel", evalue)
        # All selectors are checked first: a bad one changes nothing.
        self.fails("%freeze gm 0 nothing.*", "UsageError")
        self.assertEqual(self.value("gm.layers[0].trainable"), "true")
        text = self.result("%unfreeze gm **")["text/plain"]
        self.assertIn("unfroze 4 tensors of gm ('**')", text)
        self.assertIn("Trainable params: 491", text)

    # ---- %summary, %plot, %backend

    def test_summary_table_and_plot(self):
        self.ok("const sm = seqNet();\nfreeze(sm, '0');")
        bundles = self.ok("%summary sm")
        table, figure = bundles[0], bundles[-1]
        self.assertRegex(table["text/plain"], r"0 +Conv2D +0 +40")
        self.assertIn("Trainable params: 451", table["text/plain"])  # 499 - conv 40 - BatchNorm statistics 8
        self.assertIn("tsfreeze-summary", table["text/html"])
        self.assertIn("application/vnd.plotly.v1+json", figure)
        names = [t["name"] for t in figure["application/vnd.plotly.v1+json"]["data"]]
        self.assertEqual(names[0], "frozen")
        self.assertIn("trainable", names)
        self.assertNotIn("application/vnd.plotly.v1+json", self.result("%summary sm --no-plot"))

    def test_plot_kinds_and_wrong_words(self):
        self.ok("const pm = seqNet(); freeze(pm, '0'); const before = stateDictOf(pm);\n"
                "const run = { history: await train(pm, data, { loss: 'meanSquaredError', epochs: 1, batchSize: 8, progress: false }) };")
        for line, title in [("%plot loss run.history", "Loss"), ("%plot drift run.history", "Weight drift"),
                            ("%plot weights pm --linear", "Parameters per layer"), ("%plot hist pm before --bins 10", "Weights before and after")]:
            fig = self.result(line)
            self.assertIn("application/vnd.plotly.v1+json", fig, line)
            self.assertIn(title, fig["text/plain"], line)
        evalue, _ = self.fails("%plot loss run.history --bins 3", "UsageError")
        self.assertIn("--bins applies to %plot hist only", evalue)
        evalue, _ = self.fails("%plot pie run.history", "UsageError")
        self.assertIn("unknown kind 'pie'", evalue)
        evalue, _ = self.fails("%plot loss pm", "UsageError")
        self.assertIn("'pm' is a model (a TF.js LayersModel, or an object of tf.Variables), not a training History", evalue)
        evalue, _ = self.fails("%plot hist pm", "UsageError")
        self.assertIn("%plot hist takes MODEL and BEFORE, got 1 word", evalue)

    def test_backend_shows_the_choice_and_candidates(self):
        data = self.result("%backend")
        self.assertRegex(data["text/plain"], r"^backend +cpu\nreason +")
        self.assertIn("candidates:", data["text/plain"])
        self.assertIn("tsfreeze-backend", data["text/html"])
        data = self.result("%backend cpu")
        self.assertIn("✓ cpu", data["text/plain"])
        evalue, _ = self.fails("%backend gpu", "UsageError")
        self.assertIn("unknown backend 'gpu': use auto, tensorflow, webgpu, wasm, cpu", evalue)

    # ---- help and completion

    def test_help_of_each_magic(self):
        for name, usage in [("diffkeys", "%diffkeys A B"), ("freeze", "%freeze MODEL SELECTOR..."), ("unfreeze", "%unfreeze MODEL SELECTOR..."),
                            ("load", "%load MODEL SOURCE"), ("rename", "%rename SD RULE..."), ("summary", "%summary MODEL"),
                            ("checkfrozen", "%checkfrozen MODEL"), ("plot", "%plot weights MODEL"), ("backend", "%backend [auto|")]:
            reply, _ = self.run_cell(f"%{name}?")
            self.assertEqual(reply["status"], "ok")
            page = reply["payload"][0]["data"]["text/plain"]
            self.assertIn(f"usage: {usage}", page, name)
        listing = self.result("%lsmagic")["text/plain"]
        for name in ["diffkeys", "freeze", "unfreeze", "load", "rename", "summary", "checkfrozen", "plot", "backend"]:
            self.assertRegex(listing, rf"%{name} +\S", name)

    def test_completion_of_variables_paths_and_words(self):
        matches, start = self.complete("%freeze mo")
        self.assertIn("model", matches)
        self.assertNotIn("ckpt", matches)  # a StateDict is no model
        self.assertEqual(start, len("%freeze "))
        matches, _ = self.complete("%freeze model he")
        self.assertIn("head.**", matches)
        matches, _ = self.complete("%load model ../fixtures/torch/datap")
        self.assertIn("../fixtures/torch/dataparallel.pt", matches)
        matches, _ = self.complete("%load model ck")
        self.assertIn("ckpt", matches)
        self.assertTrue(all(m.startswith("ck") for m in matches), matches)
        matches, _ = self.complete("%rename ckpt strip:m")
        self.assertEqual(matches, ["strip:module."])
        matches, _ = self.complete("%backend w")
        self.assertEqual(sorted(matches), ["wasm", "webgpu"])
        matches, _ = self.complete("%plot d")
        self.assertEqual(matches, ["drift"])
        self.ok("const holder = { net: model, note: 'x', sd: ckpt };")
        matches, start = self.complete("%summary holder.")
        self.assertEqual((matches, start), (["holder.net"], len("%summary ")))
        matches, _ = self.complete("%load model ckpt --fr")
        self.assertEqual(matches, ["--from"])


if __name__ == "__main__":
    unittest.main()
