import type { Backend } from './iptables.js';
import type { Runner } from './runner.js';

/** Number of rules in all tables of one backend (0 if the tool is missing or shows nothing). */
async function ruleCount(run: Runner, tool: string): Promise<number> {
  const res = await run([tool], undefined, true).catch(() => ({ code: 1, stdout: '', stderr: '' }));
  return res.code === 0 ? res.stdout.split('\n').filter((l) => l.startsWith('-A ')).length : 0;
}

/**
 * FELIX_IPTABLESBACKEND=auto: follow what the host already uses. If the
 * legacy tables hold more rules than the nft ones (e.g. docker or kube-proxy
 * wrote them with iptables-legacy), use legacy; otherwise nft.
 */
export async function detectBackend(run: Runner, wanted: 'auto' | 'nft' | 'legacy'): Promise<Backend> {
  if (wanted !== 'auto') return wanted;
  const [legacy, nft] = await Promise.all([
    ruleCount(run, 'iptables-legacy-save').then(async (n) => n + (await ruleCount(run, 'ip6tables-legacy-save'))),
    ruleCount(run, 'iptables-nft-save').then(async (n) => n + (await ruleCount(run, 'ip6tables-nft-save'))),
  ]);
  return legacy > nft ? 'legacy' : 'nft';
}
