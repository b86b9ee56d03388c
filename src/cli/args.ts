// Value parsers for the command line's options. Commander takes the next word
// as a required option's value even when it is another flag, so that
// `--store --dry-run` (what an unset $STORE in a script produces) would name a
// store "--dry-run": every value goes through one of these, which refuse it.
import { InvalidArgumentError } from 'commander';

/** A word that is an option, not a value: `--x`, `-x` (a negative number is a value). */
export function looksLikeFlag(v: string): boolean {
  return /^--?[A-Za-z]/.test(v);
}

function checkWord(v: string): string {
  if (v === '') throw new InvalidArgumentError('The value is empty.');
  if (looksLikeFlag(v)) {
    throw new InvalidArgumentError(`'${v}' is an option, not a value: was the value left out (e.g. an unset shell variable)?`);
  }
  return v;
}

/** A non-empty string that is not a flag (paths, names). */
export function text(v: string): string {
  return checkWord(v);
}

/** Collects a repeatable option's values (`--set a=1 --set b=2`), each checked like `text`. */
export function collect(v: string, previous: string[] = []): string[] {
  return [...previous, checkWord(v)];
}

export function positiveInt(v: string): number {
  checkWord(v);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`Expected an integer >= 1.`);
  return n;
}

export function positiveSeconds(v: string): number {
  checkWord(v);
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`Expected a number of seconds > 0.`);
  return n;
}
