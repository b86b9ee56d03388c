// Zod pieces shared by the data modules' option and state validation, so every
// bad value is reported the same way: "<label>: <field> = <value> is invalid: ...".
import { z } from 'zod';
import { RNG_ALGORITHM } from './rng.js';

export const positiveInt = z.number().int().positive();
export const seedSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const uint32 = z.number().int().nonnegative().max(0xffffffff);
export const rngStateSchema = z.object({
  algorithm: z.literal(RNG_ALGORITHM),
  s: z.tuple([uint32, uint32, uint32, uint32]),
}).strict();
