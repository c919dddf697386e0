import { run } from '@calico/libcalico';

/** Runs a program (argument array) with optional stdin; the seam tests can replace. */
export type Runner = (cmd: string[], input?: string, allowFail?: boolean) => Promise<{ code: number; stdout: string; stderr: string }>;

export const execRunner: Runner = (cmd, input, allowFail) => run(cmd, { input, allowFail, timeoutMs: 60_000 });
