// Helpers for calicoctl tests: run the BUILT CLI as a child process against a
// private etcd, and read etcd directly (with the etcd3 client) to check what
// was written.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { run, type ExecResult } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { parse, parseAllDocuments } from 'yaml';

export const CTL_MAIN = fileURLToPath(new URL('../dist/main.bundle.js', import.meta.url));

export interface CtlOptions {
  /** stdin for `-f -` and `rule update` */
  input?: string;
  /** extra environment (ETCD_* TLS files, ETCD_TIMEOUT_MS, …) */
  env?: NodeJS.ProcessEnv;
}

/** A CLI bound to one etcd endpoint. Results never throw: tests look at code/stdout/stderr. */
export function ctlFor(endpoint: string) {
  const ctl = (args: string[], opts: CtlOptions = {}): Promise<ExecResult> =>
    run(['node', CTL_MAIN, ...args], {
      input: opts.input,
      env: { ...process.env, ETCD_ENDPOINTS: endpoint, ...opts.env },
      allowFail: true,
      timeoutMs: 30_000,
    });
  /** run and expect exit 0; returns stdout */
  const ok = async (args: string[], opts: CtlOptions = {}): Promise<string> => {
    const r = await ctl(args, opts);
    if (r.code !== 0) throw new Error(`calicoctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  /** run and expect exit 1 with one line on stderr; returns that line */
  const fails = async (args: string[], opts: CtlOptions = {}): Promise<string> => {
    const r = await ctl(args, opts);
    expect(r.code, `calicoctl ${args.join(' ')} should fail; stdout: ${r.stdout}`).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, `one line on stderr: ${r.stderr}`).toHaveLength(1);
    return lines[0]!;
  };
  /** `get … -o yaml|json` parsed */
  const getObj = async (args: string[], format: 'yaml' | 'json' = 'yaml'): Promise<any> => {
    const out = await ok(['get', ...args, '-o', format]);
    return format === 'json' ? JSON.parse(out) : parse(out);
  };
  return { ctl, ok, fails, getObj };
}

/** Every key/value under /calico/, for "nothing was written" checks. */
export async function snapshot(endpoint: string, extra: { caFile?: string; certFile?: string; keyFile?: string } = {}): Promise<string[]> {
  const ds = new EtcdDatastore({ endpoints: [endpoint], timeoutMs: 5000, ...extra });
  try {
    const { kvs } = await ds.list('/calico/');
    return kvs.map((kv) => `${kv.key}@${kv.revision}=${kv.value}`);
  } finally {
    await ds.close();
  }
}

/** A temp dir for resource files, removed by the returned cleanup. */
export function tempFiles(prefix = 'calits-ctl-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Drop metadata.resourceVersion (it changes on every write) for comparisons. */
export function withoutVersion<T>(v: T): T {
  const c = structuredClone(v) as any;
  const strip = (r: any) => {
    if (r?.metadata) delete r.metadata.resourceVersion;
  };
  strip(c);
  for (const i of c?.items ?? []) strip(i);
  return c;
}

export const yamlDocs = (text: string): unknown[] => parseAllDocuments(text).map((d) => d.toJS());

/**
 * A private etcd for the calling test file and a calicoctl bound to it:
 * started before the file's tests, stopped after them.
 */
export function withEtcdCtl(): { etcd: TestEtcd; c: ReturnType<typeof ctlFor> } {
  const t = {} as { etcd: TestEtcd; c: ReturnType<typeof ctlFor> };
  beforeAll(async () => {
    t.etcd = await startEtcd();
    t.c = ctlFor(t.etcd.endpoint);
  });
  afterAll(async () => {
    await t.etcd?.stop();
  });
  return t;
}
