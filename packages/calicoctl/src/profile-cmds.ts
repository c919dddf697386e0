// The Docker-era `profile` verbs over Profile resources: tags are labels
// `T: ""` in spec.labelsToApply; rules are the profile's ingress/egress.
import type { Resource, ResourceClient } from '@calico/libcalico';
import { ValidationError } from '@calico/libcalico/errors';
import type { ProfileSpec, Rule } from '@calico/libcalico/resources/spec';
import { CliError, warnInvalid } from './errors.js';
import { modifyResource } from './modify.js';
import { formatTable, listOf, parseOutputFormat, toJson, toYaml } from './output.js';
import { insertIndex, parseRuleArgs, removeIndex, ruleLines, ruleText, sameRule, type Direction } from './rules.js';

type Profile = Resource<ProfileSpec>;

/** Calico's default profile for NAME: members carry tag NAME, talk to each other, egress open (calico.md §3.1). */
export function defaultProfile(name: string): Profile {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Profile',
    metadata: { name },
    spec: {
      labelsToApply: { [name]: '' },
      ingress: [{ action: 'Allow', source: { selector: `has(${name})` } }],
      egress: [{ action: 'Allow' }],
    },
  };
}

export const tagsOf = (p: Profile): string[] =>
  Object.entries(p.spec.labelsToApply ?? {})
    .filter(([, v]) => v === '')
    .map(([k]) => k);

export async function profileAdd(client: ResourceClient, name: string): Promise<string> {
  await client.create(defaultProfile(name));
  return `Created profile ${name}`;
}

/** Endpoints (workload and host) that list the profile. */
async function usersOf(client: ResourceClient, name: string): Promise<string[]> {
  const users: string[] = [];
  for (const kind of ['WorkloadEndpoint', 'HostEndpoint']) {
    for (const ep of await client.list<{ profiles?: string[] }>(kind, { onInvalid: () => {} })) {
      if (ep.spec.profiles?.includes(name)) users.push(`${kind}(${ep.metadata.namespace ? ep.metadata.namespace + '/' : ''}${ep.metadata.name})`);
    }
  }
  return users;
}

export async function profileRemove(client: ResourceClient, name: string, noCheck: boolean): Promise<string> {
  const p = await client.get('Profile', name);
  if (!noCheck) {
    const users = await usersOf(client, name);
    if (users.length) {
      const shown = users.slice(0, 3).join(', ') + (users.length > 3 ? `, … (${users.length - 3} more)` : '');
      throw new CliError(`Profile(${name}) is in use by ${users.length} endpoint(s): ${shown}; remove them first or use --no-check`);
    }
  }
  // CAS on the version we checked, so an endpoint added in between is not orphaned silently.
  await client.delete('Profile', name, undefined, p.metadata.resourceVersion);
  return `Removed profile ${name}`;
}

function detail(p: Profile): string {
  const lines = [p.metadata.name, `  tags: ${tagsOf(p).join(', ') || '(none)'}`];
  const labels = Object.entries(p.spec.labelsToApply ?? {}).filter(([, v]) => v !== '');
  if (labels.length) lines.push(`  labels: ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push('  inbound rules:', ...ruleLines(p.spec.ingress).map((l) => '  ' + l));
  lines.push('  outbound rules:', ...ruleLines(p.spec.egress).map((l) => '  ' + l));
  return lines.join('\n');
}

export async function profileShow(client: ResourceClient, opts: { detailed?: boolean; output?: string }): Promise<string> {
  const format = parseOutputFormat(opts.output);
  const profiles = await client.list<ProfileSpec>('Profile', { onInvalid: warnInvalid });
  if (format === 'yaml' || format === 'json') return (format === 'json' ? toJson : toYaml)(listOf(profiles, 'Profile')).trimEnd();
  if (opts.detailed) return profiles.map(detail).join('\n\n');
  return formatTable(
    ['NAME', 'TAGS', 'INBOUND RULES', 'OUTBOUND RULES'],
    profiles.map((p) => [p.metadata.name, tagsOf(p).join(','), String(p.spec.ingress?.length ?? 0), String(p.spec.egress?.length ?? 0)]),
  ).trimEnd();
}

/** `profile NAME tag show|add|remove [TAG]` */
export async function profileTag(client: ResourceClient, name: string, verb: string, tag: string | undefined): Promise<string> {
  if (verb === 'show') return tagsOf(await client.get<ProfileSpec>('Profile', name)).join('\n');
  if (verb !== 'add' && verb !== 'remove') throw new CliError(`profile ${name} tag: expected show, add or remove, got ${JSON.stringify(verb)}`);
  if (!tag) throw new CliError(`profile ${name} tag ${verb}: a TAG is required`);
  let note = '';
  await modifyResource<ProfileSpec>(client, 'Profile', name, (p) => {
    const labels = (p.spec.labelsToApply ??= {});
    if (verb === 'add') {
      if (labels[tag] === '') note = `Profile ${name} already has tag ${tag}`;
      else if (tag in labels) throw new CliError(`Profile(${name}) already has a label ${tag}=${labels[tag]}; a tag is a label with an empty value`);
      labels[tag] = '';
    } else {
      if (labels[tag] !== '') throw new CliError(`Profile(${name}) does not have tag ${tag}`);
      delete labels[tag];
    }
  });
  return note || `${verb === 'add' ? 'Added tag' : 'Removed tag'} ${tag} ${verb === 'add' ? 'to' : 'from'} profile ${name}`;
}

const rulesOf = (p: Profile, d: Direction): Rule[] => (d === 'inbound' ? (p.spec.ingress ??= []) : (p.spec.egress ??= []));

/** `profile NAME rule add|remove …` */
export async function profileRuleChange(client: ResourceClient, name: string, verb: 'add' | 'remove', args: string[]): Promise<string> {
  const parsed = parseRuleArgs(args, verb);
  let message = '';
  await modifyResource<ProfileSpec>(client, 'Profile', name, (p) => {
    const rules = rulesOf(p, parsed.direction);
    if (verb === 'add') {
      const i = insertIndex(parsed.at, rules.length);
      rules.splice(i, 0, parsed.rule!);
      message = `Added ${parsed.direction} rule ${i + 1} to profile ${name}: ${ruleText(parsed.rule!)}`;
      return;
    }
    const i =
      parsed.rule === undefined
        ? removeIndex(parsed.at!, rules.length, parsed.direction)
        : rules.findIndex((r) => sameRule(r, parsed.rule!));
    if (i < 0) throw new CliError(`Profile(${name}) has no ${parsed.direction} rule "${ruleText(parsed.rule!)}"`);
    const [gone] = rules.splice(i, 1);
    message = `Removed ${parsed.direction} rule ${i + 1} from profile ${name}: ${ruleText(gone!)}`;
  });
  return message;
}

export async function profileRuleShow(client: ResourceClient, name: string): Promise<string> {
  const p = await client.get<ProfileSpec>('Profile', name);
  return ['Inbound rules:', ...ruleLines(p.spec.ingress), 'Outbound rules:', ...ruleLines(p.spec.egress)].join('\n');
}

export async function profileRuleJson(client: ResourceClient, name: string): Promise<string> {
  const p = await client.get<ProfileSpec>('Profile', name);
  return toJson({ ingress: p.spec.ingress ?? [], egress: p.spec.egress ?? [] }).trimEnd();
}

/** Replace both rule lists from `{"ingress": [...], "egress": [...]}` (as `rule json` prints). */
export async function profileRuleUpdate(client: ResourceClient, name: string, text: string): Promise<string> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('stdin', `not valid JSON: ${(e as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('stdin', 'expected an object {"ingress": [...], "egress": [...]}');
  const extra = Object.keys(body).filter((k) => k !== 'ingress' && k !== 'egress');
  if (extra.length) throw new ValidationError(extra[0]!, 'unknown field (only ingress and egress may be given)');
  const { ingress = [], egress = [] } = body as { ingress?: unknown; egress?: unknown };
  if (!Array.isArray(ingress)) throw new ValidationError('ingress', 'must be a list of rules');
  if (!Array.isArray(egress)) throw new ValidationError('egress', 'must be a list of rules');
  // The write validates every rule (libcalico's schema) before anything is stored.
  await modifyResource<ProfileSpec>(client, 'Profile', name, (p) => {
    p.spec.ingress = ingress as Rule[];
    p.spec.egress = egress as Rule[];
  });
  return `Updated rules of profile ${name} (${ingress.length} inbound, ${egress.length} outbound)`;
}
