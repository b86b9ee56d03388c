// Checks of what callers hand the run store, before anything is written: the
// zod schemas (read with parseWith, whose ConfigError names the field) and the
// per-row checks of metric and trace writes (StoreErrors naming the row).
import { z } from 'zod';
import { FINAL_STATUSES } from '../../train/sink.js';
import { showValue } from '../../util/schema.js';
import { StoreError } from './errors.js';
import { RUN_STATUSES } from './schema.js';

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const plainObject = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be an object',
);
const stepSchema = z.number().int('must be an integer').nonnegative('must be >= 0');

export const runInitSchema = z.object({
  config: plainObject,
  kind: nonEmpty,
  name: nonEmpty.optional(),
  seed: z.number().int('must be an integer'),
  backend: plainObject,
  resumeOf: nonEmpty.optional(),
  resumeFrom: nonEmpty.optional(),
}).strict();

export const finishSchema = z.object({
  status: z.enum(FINAL_STATUSES),
  reason: z.string().optional(),
  step: stepSchema.optional(),
}).strict();

export const artifactSchema = z.object({
  kind: nonEmpty,
  path: nonEmpty,
  step: stepSchema.optional(),
  meta: plainObject.optional(),
}).strict();

export const filterSchema = z.object({
  status: z.union([z.enum(RUN_STATUSES), z.array(z.enum(RUN_STATUSES))]).optional(),
  kind: z.string().optional(),
  configHash: z.string().optional(),
  name: z.string().optional(),
}).strict();

export const staleSchema = z.object({ olderThanSeconds: z.number().nonnegative('must be >= 0') }).strict();

export function checkStep(step: unknown, where: string): number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new StoreError(`${where}: step = ${showValue(step)} must be an integer >= 0`);
  }
  return step;
}

export function checkValue(value: unknown, where: string): number {
  if (typeof value !== 'number') {
    throw new StoreError(`${where} = ${showValue(value)} is not a number (NaN and +-Infinity are allowed)`);
  }
  return value;
}

export function checkName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new StoreError(`${where}: name = ${showValue(name)} must be a non-empty string`);
  }
  return name;
}
