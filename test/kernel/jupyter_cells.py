"""Running a cell through jupyter_client and collecting what it published (shared by the kernel tests)."""


def run_cell(kc, code, timeout=30, **kw):
    """Executes code on client kc; returns (reply content, iopub messages of that request until idle)."""
    msg_id = kc.execute(code, **kw)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    msgs = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
        msgs.append(m)
    return reply["content"], msgs
