/**
 * One agent per data dir: a pid file (`agent.lock`), taken over when the process that wrote it is
 * gone (a crash, a kill -9). Readers (`kiln agent status`) look at it without taking it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KilnError } from '../../errors.js';

export const LOCK_FILE = 'agent.lock';

/** Is a process with this pid alive (EPERM: alive, but someone else's)? */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** One agent per data dir: a pid file, taken over when its process is gone. */
export function takeLock(path: string): string {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KilnError('AGENT_STATE', `cannot lock the data dir: ${(err as Error).message}`);
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new KilnError('AGENT_STATE', `the data dir ${dirname(path)} is in use by another agent (pid ${pid})`, {
          hint: 'stop that agent, pass another --data-dir, or use its HTTP API',
        });
      }
      rmSync(path, { force: true });
    }
  }
  throw new KilnError('AGENT_STATE', `cannot lock the data dir ${dirname(path)}`);
}

export function releaseLock(path: string): void {
  try {
    if (Number(readFileSync(path, 'utf8').trim()) === process.pid) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}

/** The pid holding a data dir's lock, when that process is alive. */
export function lockHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
