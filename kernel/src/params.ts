// papermill-style parameters: defaults in the cell tagged `parameters`; values
// given on the command line go into an `injected-parameters` cell right after it.

export type ParamKind = 'number' | 'boolean' | 'string';

export interface Declared {
  keyword: 'const' | 'let' | 'var';
  type?: string;
  /** The default's source text (`100`, `'quick'`), when it fits on the line. */
  default?: string;
  /** What the default is, from the type annotation or else the literal. */
  kind?: ParamKind;
}

const NUMBER_LITERAL = /^[-+]?(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:e[-+]?\d+)?|0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+)$/i;

function kindOf(type: string | undefined, literal: string | undefined): ParamKind | undefined {
  const t = type?.trim();
  if (t === 'number') return 'number';
  if (t === 'boolean') return 'boolean';
  if (t === 'string' || (t && /^(?:(['"`]).*?\1\s*\|?\s*)+$/.test(t))) return 'string';
  if (t) return undefined;
  if (literal === undefined) return undefined;
  if (NUMBER_LITERAL.test(literal)) return 'number';
  if (literal === 'true' || literal === 'false') return 'boolean';
  if (/^(['"`])[^]*\1$/.test(literal)) return 'string';
  return undefined;
}

/** Names declared at the top level of a parameters cell (`const lr = 1e-3;`, `let profile: string = 'quick'`). */
export function declaredParameters(source: string): Map<string, Declared> {
  const out = new Map<string, Declared>();
  for (const m of source.matchAll(/^\s*(const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::([^=]+))?=([^\n]*)$/gm)) {
    // The default: the rest of the line without a trailing `;` or `// comment`.
    const rest = m[4]!.replace(/\/\/[^'"`]*$/, '').trim().replace(/;$/, '').trim();
    const type = m[3]?.trim();
    const kind = kindOf(type, rest || undefined);
    out.set(m[2]!, { keyword: m[1] as Declared['keyword'], ...(type ? { type } : {}), ...(rest ? { default: rest } : {}), ...(kind ? { kind } : {}) });
  }
  return out;
}

/** `name=value` split, with the value parsed as JSON when it parses (numbers, true, [1,2], "s"), else kept as a string. */
export function splitParam(arg: string): { name: string; raw: string; value: unknown } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new Error(`-p ${arg}: expected name=value`);
  const name = arg.slice(0, eq), raw = arg.slice(eq + 1);
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`-p ${arg}: '${name}' is not a valid identifier`);
  try {
    return { name, raw, value: JSON.parse(raw) };
  } catch {
    return { name, raw, value: raw };
  }
}

/** `name=value` with value parsed as JSON when it parses (numbers, true, [1,2], "s"), else kept as a string. */
export function parseParam(arg: string): [string, unknown] {
  const { name, value } = splitParam(arg);
  return [name, value];
}

/**
 * The value of `-p name=raw` for a notebook that declares `name` as `d`:
 * a number or a boolean must be one (else an Error naming the parameter, the
 * declaration and the value); a string stays the text as given (`-p profile=quick`,
 * `-p tag=123`; a JSON string `"quick"` is unquoted); otherwise the JSON value.
 */
export function coerceParam(name: string, raw: string, value: unknown, d: Declared | undefined): unknown {
  const declared = () => `the notebook declares ${name} as a ${d!.kind}${d!.default !== undefined ? ` (default ${d!.default})` : ''}`;
  switch (d?.kind) {
    case 'number': {
      if (typeof value === 'number') return value;
      const n = Number(raw.replace(/_/g, ''));
      if (raw.trim() !== '' && typeof value !== 'boolean' && value !== null && Number.isFinite(n)) return n;
      throw new Error(`-p ${name}=${raw}: ${declared()}; '${raw}' is not a number`);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      throw new Error(`-p ${name}=${raw}: ${declared()}; '${raw}' is not a boolean (true or false)`);
    case 'string':
      return typeof value === 'string' ? value : raw;
    default:
      return value;
  }
}

/** The injected cell's source: the defaults' declaration keywords and type annotations, new values. */
export function injectedSource(params: Record<string, unknown>, declared: Map<string, Declared>): string {
  const lines = ['// Parameters injected by dytlab run'];
  for (const [name, value] of Object.entries(params)) {
    const d = declared.get(name);
    lines.push(`${d?.keyword ?? 'const'} ${name}${d?.type ? `: ${d.type}` : ''} = ${JSON.stringify(value)};`);
  }
  return lines.join('\n');
}
