// PLACEHOLDER (helper "model" replaces this): per-kind zod validation + defaults.
import { ValidationError } from '../errors.js';
import { API_VERSION, kindInfo } from './kinds.js';
import type { Resource } from './types.js';

/** Validate a resource of any kind, apply defaults, and return the normalised copy. */
export function validateResource(raw: unknown): Resource {
  const r = raw as Resource;
  if (!r || typeof r !== 'object') throw new ValidationError('', 'resource must be an object');
  if (r.apiVersion !== API_VERSION) throw new ValidationError('apiVersion', `must be ${API_VERSION}`);
  if (!kindInfo(r.kind)) throw new ValidationError('kind', `unknown kind ${JSON.stringify(r.kind)}`);
  if (!r.metadata?.name) throw new ValidationError('metadata.name', 'is required');
  return { ...r, spec: r.spec ?? {} };
}

/** Checks that need the other stored resources (e.g. overlapping pools). */
export function validateAgainst(_r: Resource, _existing: Resource[]): void {}
