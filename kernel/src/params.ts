// papermill-style parameters: defaults in the cell tagged `parameters`; values
// given on the command line go into an `injected-parameters` cell right after it.

export interface Declared { keyword: 'const' | 'let' | 'var'; type?: string }

/** Names declared at the top level of a parameters cell (`const lr = 1e-3;`, `let profile: string = 'quick'`). */
export function declaredParameters(source: string): Map<string, Declared> {
  const out = new Map<string, Declared>();
  for (const m of source.matchAll(/^\s*(const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::([^=]+))?=/gm)) {
    out.set(m[2]!, { keyword: m[1] as Declared['keyword'], ...(m[3] ? { type: m[3].trim() } : {}) });
  }
  return out;
}

/** `name=value` with value parsed as JSON when it parses (numbers, true, [1,2], "s"), else kept as a string. */
export function parseParam(arg: string): [string, unknown] {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new Error(`-p ${arg}: expected name=value`);
  const name = arg.slice(0, eq), raw = arg.slice(eq + 1);
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`-p ${arg}: '${name}' is not a valid identifier`);
  try {
    return [name, JSON.parse(raw)];
  } catch {
    return [name, raw];
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
