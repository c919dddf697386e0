import { ValidationError } from '@calico/libcalico';

/**
 * Felix's parameters in one typed table. Sources, highest first:
 * environment FELIX_<NAME> > FelixConfiguration `node.<NODENAME>` >
 * FelixConfiguration `default` > the defaults below.
 * In a FelixConfiguration spec the name is camelCase (iptablesRefreshInterval);
 * in the environment it is upper case (FELIX_IPTABLESREFRESHINTERVAL).
 */
type Parser<T> = (raw: unknown, field: string) => T;

const str: Parser<string> = (raw, field) => {
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new ValidationError(field, 'must be a string');
  return String(raw);
};
const bool: Parser<boolean> = (raw, field) => {
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new ValidationError(field, `${JSON.stringify(raw)} is not a boolean`);
};
const int: Parser<number> = (raw, field) => {
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isInteger(n) || n < 0) throw new ValidationError(field, `${JSON.stringify(raw)} is not a non-negative integer`);
  return n;
};
/** A duration: seconds as a number ("90"), or Go-style text ("90s", "1m30s", "500ms"). Returns milliseconds. */
const duration: Parser<number> = (raw, field) => {
  if (typeof raw === 'number' || /^\d+(\.\d+)?$/.test(String(raw))) return Number(raw) * 1000;
  const s = String(raw);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (!s || end !== s.length) throw new ValidationError(field, `${JSON.stringify(raw)} is not a duration (e.g. 90s, 1m30s, 500ms)`);
  return total;
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, field) => {
    const hit = values.find((v) => v.toLowerCase() === String(raw).toLowerCase());
    if (!hit) throw new ValidationError(field, `${JSON.stringify(raw)} must be one of ${values.join(', ')}`);
    return hit;
  };
const mask: Parser<number> = (raw, field) => {
  const n = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new ValidationError(field, `${JSON.stringify(raw)} is not a 32-bit mask`);
  return n >>> 0;
};

const PARAMS = {
  logSeverityScreen: { parse: str, def: 'Info' },
  iptablesBackend: { parse: oneOf('auto', 'nft', 'legacy'), def: 'auto' as const },
  iptablesRefreshInterval: { parse: duration, def: 90_000 },
  routeRefreshInterval: { parse: duration, def: 90_000 },
  ipsetsRefreshInterval: { parse: duration, def: 90_000 },
  /** how long to wait for more updates before a pass (ms); those arriving during a pass go in the next */
  applyBatchDelay: { parse: duration, def: 0 },
  defaultEndpointToHostAction: { parse: oneOf('Drop', 'Return', 'Accept'), def: 'Drop' as const },
  chainInsertMode: { parse: oneOf('insert', 'append'), def: 'insert' as const },
  iptablesMarkMask: { parse: mask, def: 0xffff0000 },
  interfacePrefix: { parse: str, def: 'cali' },
  ignoreLooseRPF: { parse: bool, def: false },
  ipv6Support: { parse: bool, def: true },
  /** endpoints with equal policies and profiles share chains, reached through ipsets (see EndpointManager) */
  sharedEndpointChains: { parse: bool, def: false },
  logPrefix: { parse: str, def: 'calico-packet' },
  natOutgoingAddress: { parse: str, def: '' },
  healthEnabled: { parse: bool, def: false },
  healthHost: { parse: str, def: '127.0.0.1' },
  healthPort: { parse: int, def: 9099 },
  prometheusMetricsEnabled: { parse: bool, def: false },
  prometheusMetricsHost: { parse: str, def: '127.0.0.1' },
  prometheusMetricsPort: { parse: int, def: 9091 },
  /** env FELIX_REPORTINGINTERVALSECS, as Calico; spec field reportingInterval */
  reportingIntervalSecs: { parse: duration, def: 30_000, field: 'reportingInterval' },
} satisfies Record<string, { parse: Parser<unknown>; def: unknown; field?: string }>;

type Params = typeof PARAMS;
export type FelixConfig = { -readonly [K in keyof Params]: ReturnType<Params[K]['parse']> };
export type ParamName = keyof Params;

/**
 * Parameters felix reads once, when it builds its dataplane: a change in the
 * datastore makes felix exit so that its supervisor restarts it (as Calico).
 * The others (endpoint-to-host action, NAT address, log level, batch delay)
 * take effect at once.
 */
export const RESTART_PARAMS: readonly ParamName[] = [
  'iptablesBackend', 'iptablesMarkMask', 'interfacePrefix', 'ipv6Support', 'chainInsertMode', 'logPrefix', 'sharedEndpointChains',
  'iptablesRefreshInterval', 'ipsetsRefreshInterval', 'routeRefreshInterval', 'reportingIntervalSecs',
];

export interface ConfigLayers {
  env: NodeJS.ProcessEnv;
  /** FelixConfiguration node.<name> spec */
  node?: Record<string, unknown>;
  /** FelixConfiguration default spec */
  global?: Record<string, unknown>;
}

/**
 * Resolve every parameter. A bad value from the datastore is reported through
 * `onInvalid` and that layer is ignored for the parameter; a bad value in the
 * environment is an error (the operator typed it).
 */
export function resolveConfig(layers: ConfigLayers, onInvalid: (e: ValidationError) => void = () => {}): FelixConfig {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(PARAMS) as [string, { parse: Parser<unknown>; def: unknown; field?: string }][]) {
    const envName = `FELIX_${name.toUpperCase()}`;
    const envVal = layers.env[envName];
    if (envVal !== undefined && envVal !== '') {
      out[name] = p.parse(envVal, envName);
      continue;
    }
    out[name] = p.def;
    for (const [layer, spec] of [['node', layers.node], ['default', layers.global]] as const) {
      const field = p.field ?? name;
      const v = spec?.[field];
      if (v === undefined || v === null) continue;
      try {
        out[name] = p.parse(v, `FelixConfiguration(${layer}).spec.${field}`);
        break;
      } catch (e) {
        if (e instanceof ValidationError) onInvalid(e);
        else throw e;
      }
    }
  }
  return out as FelixConfig;
}
