/**
 * Typed parameters: read from a notebook's `parameters`-tagged cell, edited as text in the
 * submit dialog, converted back to typed JSON values, validated like the server does.
 */

export type ParamType = 'int' | 'float' | 'bool' | 'str' | 'json' | 'none';

export interface IParam {
  name: string;
  type: ParamType;
  /** The value as the user edits it (text). */
  text: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PY_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
    ' '
  )
);

export function isIdentifier(name: string): boolean {
  return IDENT.test(name) && !PY_KEYWORDS.has(name);
}

function pythonLiteral(raw: string): { type: ParamType; text: string } | null {
  const v = raw.trim();
  if (/^[+-]?\d+$/.test(v)) {
    return { type: 'int', text: v };
  }
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(v)) {
    return { type: 'float', text: v };
  }
  if (v === 'True' || v === 'False') {
    return { type: 'bool', text: v === 'True' ? 'true' : 'false' };
  }
  if (v === 'None') {
    return { type: 'none', text: '' };
  }
  const quoted = /^(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")$/.exec(v);
  if (quoted) {
    const body = quoted[1] ?? quoted[2] ?? '';
    return { type: 'str', text: body.replace(/\\(['"\\])/g, '$1') };
  }
  if (/^[[{]/.test(v)) {
    const json = v
      .replace(/\bTrue\b/g, 'true')
      .replace(/\bFalse\b/g, 'false')
      .replace(/\bNone\b/g, 'null')
      .replace(/'/g, '"');
    try {
      JSON.parse(json);
      return { type: 'json', text: json };
    } catch {
      return null;
    }
  }
  return null;
}

/** `name = literal  # comment` lines of a parameters cell; other lines are skipped. */
export function parseParametersCell(source: string): IParam[] {
  const params: IParam[] = [];
  for (const line of source.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=\s*(.+?)\s*(#.*)?$/.exec(
      line
    );
    if (!m) {
      continue;
    }
    const literal = pythonLiteral(m[2]);
    if (literal) {
      params.push({ name: m[1], ...literal });
    }
  }
  return params;
}

/** Find the parameters cell of a notebook (its JSON) and parse it. */
export function notebookParameters(notebook: any): IParam[] {
  const cells: any[] = notebook?.cells ?? [];
  const cell = cells.find(
    c =>
      c.cell_type === 'code' && (c.metadata?.tags ?? []).includes('parameters')
  );
  if (!cell) {
    return [];
  }
  const source = Array.isArray(cell.source)
    ? cell.source.join('')
    : String(cell.source ?? '');
  return parseParametersCell(source);
}

/** The typed value of a parameter, or an error message in words. */
export function paramValue(
  p: IParam
): { value: unknown; error?: undefined } | { error: string } {
  const t = p.text.trim();
  switch (p.type) {
    case 'int':
      return /^[+-]?\d+$/.test(t)
        ? { value: parseInt(t, 10) }
        : { error: `${p.name} must be an integer` };
    case 'float': {
      const n = Number(t);
      return t !== '' && Number.isFinite(n)
        ? { value: n }
        : { error: `${p.name} must be a number` };
    }
    case 'bool':
      return t === 'true' || t === 'false'
        ? { value: t === 'true' }
        : { error: `${p.name} must be true or false` };
    case 'none':
      return { value: null };
    case 'json':
      try {
        return { value: JSON.parse(t) };
      } catch {
        return { error: `${p.name} must be valid JSON` };
      }
    default:
      return { value: p.text };
  }
}
