"""Fresh `jupyter console --kernel tsfreeze` sessions (Debian's jupyter-console) in a pseudo-terminal,
driven as a person would type (run by console.test.ts with JUPYTER_PATH on a temporary prefix).

Each session: the first prompt is `In [1]`, `1 + 1` gives `Out[1]: 2` and then `In [2]`, and
`exit` (odd sessions: `quit`) ends the session, which shuts the kernel down. No session may print
the console's warnings (a start-up request the kernel answered too late).

Usage: console_pty.py SESSIONS
"""
import os
import re
import sys
import time

import pexpect

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")
WARNINGS = re.compile(r"did not respond|is_complete|Traceback|Warning", re.I)


def plain(text):
    return ANSI.sub("", text)


def session(i):
    word = "exit" if i % 2 == 0 else "quit"
    # PROMPT_TOOLKIT_NO_CPR: a pty answers no cursor-position request (prompt_toolkit would warn).
    child = pexpect.spawn("jupyter", ["console", "--kernel", "tsfreeze"], encoding="utf-8", timeout=90, dimensions=(40, 200), env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"})
    log = []
    try:
        def expect(pattern):
            try:
                child.expect(pattern)
            finally:
                log.append(child.before + (child.after if isinstance(child.after, str) else ""))
        expect(r"In \[.*?1.*?\]: ")
        # Type as a person does: the console asks is_complete on Enter.
        child.send("1 + 1")
        time.sleep(0.1)
        child.send("\r")
        expect(r"Out\[.*?1.*?\]: .*?2")
        expect(r"In \[.*?2.*?\]: ")
        child.send(word)
        time.sleep(0.1)
        child.send("\r")
        expect(pexpect.EOF)
        child.close()
        text = plain("".join(log))
        # prompt_toolkit redraws the line being typed: a prompt may appear twice in a row.
        seen = re.findall(r"In \[(\d+)\]", text)
        prompts = [p for k, p in enumerate(seen) if k == 0 or p != seen[k - 1]]
        bad = WARNINGS.findall(text)
        ok = not bad and prompts == ["1", "2"] and child.exitstatus == 0
        print(f"session {i + 1} ({word}): prompts {prompts}, exit status {child.exitstatus}, warnings {bad}", flush=True)
        if not ok:
            print(text, flush=True)
        return ok
    except pexpect.ExceptionPexpect as e:
        print(f"session {i + 1} ({word}): {type(e).__name__}\n{plain(''.join(log))}\n{plain(str(child.before))}", flush=True)
        child.terminate(force=True)
        return False


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    results = [session(i) for i in range(n)]
    print(f"{sum(results)} of {n} sessions clean", flush=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
