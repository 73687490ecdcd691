import type { ChildProcess } from 'node:child_process';
import type { Sandbox } from '../../src/sandbox/server.js';

/** Sends `signal` (SIGINT: a Ctrl-C) once the child's stderr has shown `marker`. */
export function interruptWhen(marker: RegExp, signal: NodeJS.Signals = 'SIGINT') {
  return (child: ChildProcess) => {
    let seen = '';
    const onData = (chunk: string | Buffer) => {
      seen += String(chunk);
      if (!marker.test(seen)) return;
      child.stderr?.off('data', onData);
      child.kill(signal);
    };
    child.stderr?.on('data', onData);
  };
}

/** Sends `signal` (SIGINT: a Ctrl-C) once the sandbox holds a submission (one it is slow to answer, with submitDelayMs). */
export function interruptInFlight(sb: Sandbox, signal: NodeJS.Signals = 'SIGINT') {
  return (child: ChildProcess) => {
    const check = setInterval(() => {
      if (sb.submissions().length === 0) return;
      clearInterval(check);
      child.kill(signal);
    }, 20);
    child.on('close', () => clearInterval(check));
  };
}
