import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** don't throw on a non-zero exit */
  allowFail?: boolean;
}

export class ExecError extends Error {
  constructor(
    readonly cmd: string[],
    readonly result: ExecResult,
  ) {
    super(`${cmd.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'ExecError';
  }
}

/** Run a program with an argument array (never a shell string). */
export function run(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (result.code !== 0 && !opts.allowFail) reject(new ExecError(cmd, result));
      else resolve(result);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Where Debian keeps bird, ipset, iptables…: dirs a non-login PATH may lack. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the sbin dirs appended when missing (for children that run system programs). */
export function pathWithSbin(path: string | undefined): string {
  const have = (path ?? '').split(delimiter).filter(Boolean);
  return [...have, ...SBIN_DIRS.filter((d) => !have.includes(d))].join(delimiter);
}

/** Find a system program on PATH or in the sbin dirs; undefined if absent. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const d of pathWithSbin(env.PATH).split(delimiter)) {
    if (existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

/**
 * The node flags a script's shebang asks for (`#!/usr/bin/env -S node --a --b`
 * → `['--a', '--b']`), so that whoever starts it as `node script.js` runs it
 * exactly as executing it would: the shebang is the one place they are written.
 * None for a file that cannot be read (starting it will say why).
 */
export function shebangNodeFlags(script: string): string[] {
  const head = Buffer.alloc(256);
  let fd: number;
  try {
    fd = openSync(script, 'r');
  } catch {
    return [];
  }
  let first: string;
  try {
    first = head.toString('utf8', 0, readSync(fd, head, 0, head.length, 0)).split('\n')[0]!;
  } finally {
    closeSync(fd);
  }
  const m = /^#!\S*env -S node((?: -\S+)*)\s*$/.exec(first);
  return m ? m[1]!.trim().split(' ') : [];
}
