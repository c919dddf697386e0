import type { Logger } from 'pino';
import type { Rule } from '@calico/libcalico/resources/spec';
import { policyInChain, policyOutChain, profileInChain, profileOutChain, type IpVersion, type Marks } from '../names.js';
import { renderRules } from '../rules/policy.js';
import type { SetRef } from '../rules/types.js';
import type { Policy, Profile } from '../calc/model.js';
import type { IpsetManager } from './ipsets.js';
import type { DesiredState } from './tables.js';

interface Programmed {
  refs: number;
  /** sets each rendered chain refers to, by `<version>:<chain>` */
  sets: Map<string, SetRef[]>;
}

/**
 * Policy and profile chains (`cali-pi-/cali-po-`, `cali-pri-/cali-pro-`).
 * A chain is programmed only while a local endpoint refers to it; a profile an
 * endpoint names but that does not exist is programmed empty (it accepts
 * nothing, so the endpoint's final drop applies).
 */
export class PolicyManager {
  private readonly programmed = new Map<string, Programmed>();
  /** programmed policies and profiles with an egress Log rule */
  private readonly egressLogging = new Set<string>();

  constructor(
    private readonly out: DesiredState,
    private readonly ipsets: IpsetManager,
    private readonly log: Logger,
    private readonly marks: Marks,
    private readonly logPrefix: string,
  ) {}

  private static key(kind: 'policy' | 'profile', id: string): string {
    return `${kind}:${id}`;
  }

  /** An endpoint now refers to this policy/profile; the first reference renders its chains. */
  retain(kind: 'policy' | 'profile', id: string, current: Policy | Profile | undefined): void {
    const k = PolicyManager.key(kind, id);
    const p = this.programmed.get(k);
    if (p) return void p.refs++;
    this.programmed.set(k, { refs: 1, sets: new Map() });
    this.render(kind, id, current);
  }

  /** Some programmed egress rule logs: a workload's packets to its host must then run its egress policy (see staticFilterChains). */
  get egressLogs(): boolean {
    return this.egressLogging.size > 0;
  }

  release(kind: 'policy' | 'profile', id: string): void {
    const k = PolicyManager.key(kind, id);
    const p = this.programmed.get(k);
    if (!p || --p.refs > 0) return;
    this.programmed.delete(k);
    this.egressLogging.delete(k);
    for (const v of this.out.versions) {
      for (const name of this.chainNames(kind, id)) this.out.filter[v].removeChain(name);
    }
    for (const sets of p.sets.values()) for (const s of sets) this.ipsets.release(s.id);
  }

  private chainNames(kind: 'policy' | 'profile', id: string): [string, string] {
    return kind === 'policy' ? [policyInChain(id), policyOutChain(id)] : [profileInChain(id), profileOutChain(id)];
  }

  /** (Re-)render the chains of a programmed policy/profile after it changed. */
  render(kind: 'policy' | 'profile', id: string, current: Policy | Profile | undefined): void {
    const k = PolicyManager.key(kind, id);
    const p = this.programmed.get(k);
    if (!p) return;
    if (current?.egress?.some((r) => r.action === 'Log')) this.egressLogging.add(k);
    else this.egressLogging.delete(k);
    const [inName, outName] = this.chainNames(kind, id);
    const namespace = kind === 'policy' ? (current as Policy | undefined)?.namespace : undefined;
    const dirs: [string, Rule[] | undefined][] = [
      [inName, current?.ingress],
      [outName, current?.egress],
    ];
    for (const v of this.out.versions) {
      for (const [name, rules] of dirs) {
        const r = renderRules(rules, { version: v, marks: this.marks, logPrefix: this.logPrefix, namespace });
        if (r.skipped.length && v === this.out.versions[0]) this.log.warn({ [kind]: id, chain: name, skipped: r.skipped }, 'rules left out');
        this.setChainSets(p, v, name, r.sets);
        this.out.filter[v].setChain(name, r.rules);
      }
    }
  }

  private setChainSets(p: Programmed, v: IpVersion, chain: string, sets: SetRef[]): void {
    const key = `${v}:${chain}`;
    const old = p.sets.get(key) ?? [];
    // Retain the new before releasing the old, so a set used by both stays.
    for (const s of sets) this.ipsets.retain(s);
    for (const s of old) this.ipsets.release(s.id);
    p.sets.set(key, sets);
  }
}
