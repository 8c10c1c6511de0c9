/**
 * Whether the process that started the kernel is still there. Polled from the socket thread,
 * whose event loop runs while a cell keeps the main thread busy: a kernel whose client died
 * exits even in the middle of an endless loop.
 */

/** How often the parent is looked at. */
export const PARENT_POLL_MS = 200;

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid to watch: JPY_PARENT_PID (jupyter_client sets it to its own pid), else the parent process. */
export function parentPidOf(env: NodeJS.ProcessEnv = process.env): number {
  const jpy = Number(env.JPY_PARENT_PID);
  return Number.isInteger(jpy) && jpy > 1 ? jpy : process.ppid;
}

/** Calls `gone` once when `parentPid` has died or the kernel was re-parented; returns a stop function. */
export function watchParent(parentPid: number, gone: () => void): () => void {
  const startPpid = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== startPpid || (parentPid > 1 && !alive(parentPid))) {
      clearInterval(timer);
      gone();
    }
  }, PARENT_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
