import type { IpVersion } from '../names.js';

/**
 * One iptables rule as felix renders it: the match part and the target part.
 * The iptables driver writes `-A <chain> <match> -m comment --comment cali:<hash> <action>`.
 */
export interface IptRule {
  match: string;
  action: string;
}

export interface Chain {
  name: string;
  rules: IptRule[];
}

/** An IP set a rule refers to; its members are worked out by the ipset manager. */
export type SetRef =
  | { kind: 'selector'; id: string; version: IpVersion; selector: string; namespace?: string }
  | { kind: 'nets'; id: string; version: IpVersion; nets: string[] };

export const rule = (match: string, action: string): IptRule => ({ match: match.trim(), action });
