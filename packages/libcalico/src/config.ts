import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';

/** Connection settings for etcd, from Calico's environment variable names. */
export interface EtcdConfig {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** per-request deadline, so a dead etcd fails in seconds */
  timeoutMs: number;
}

export function etcdConfigFromEnv(env: NodeJS.ProcessEnv = process.env, endpointsFlag?: string): EtcdConfig {
  const raw = endpointsFlag ?? env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379';
  const endpoints = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((e) => (/^[a-z]+:\/\//.test(e) ? e : `http://${e}`));
  return {
    endpoints,
    caFile: env.ETCD_CA_CERT_FILE || undefined,
    certFile: env.ETCD_CERT_FILE || undefined,
    keyFile: env.ETCD_KEY_FILE || undefined,
    timeoutMs: Number(env.ETCD_TIMEOUT_MS ?? 5000),
  };
}

/** The node this process acts for: NODENAME, else HOSTNAME (as Calico), else the hostname. */
export function nodeName(env: NodeJS.ProcessEnv = process.env): string {
  return env.NODENAME || env.HOSTNAME || hostname();
}

/** Paths every node process writes under, overridable so several hosts share a machine. */
export interface NodePaths {
  runDir: string;
  logDir: string;
  confdDir: string;
}

export function nodePaths(env: NodeJS.ProcessEnv = process.env): NodePaths {
  return {
    runDir: env.CALICO_RUN_DIR || '/var/run/calico',
    logDir: env.CALICO_LOG_DIR || '/var/log/calico',
    confdDir: env.CALICO_CONFD_DIR || '/etc/calico/confd',
  };
}

export function readFileIf(path: string | undefined): Buffer | undefined {
  return path ? readFileSync(path) : undefined;
}
