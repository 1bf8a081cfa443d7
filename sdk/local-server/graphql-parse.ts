/**
 * A small GraphQL reader: enough of the language for the management operations RunPod's SDKs
 * send (operations with variables, arguments with literal or variable values, nested
 * selections, aliases). Fragments and directives are refused with a clear message, which is
 * more honest than a library that would parse them and then have nothing to run them with.
 */

export type GqlValue = null | boolean | number | string | GqlValue[] | { [key: string]: GqlValue };

export interface GqlField {
  alias: string;
  name: string;
  args: Record<string, GqlValue>;
  selections: GqlField[] | undefined;
}

export interface GqlOperation {
  type: "query" | "mutation";
  name: string | undefined;
  selections: GqlField[];
}

export class GraphQLSyntaxError extends Error {
  override name = "GraphQLSyntaxError";
}

type Token =
  | { kind: "punct"; value: string; pos: number }
  | { kind: "name"; value: string; pos: number }
  | { kind: "string"; value: string; pos: number }
  | { kind: "number"; value: number; pos: number }
  | { kind: "eof"; value: ""; pos: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === "#") {
      while (i < source.length && source[i] !== "\n") i++;
      continue;
    }
    if (/[\s,\ufeff]/.test(ch)) {
      i++;
      continue;
    }
    if (source.startsWith("...", i)) {
      tokens.push({ kind: "punct", value: "...", pos: i });
      i += 3;
      continue;
    }
    if ("{}()[]:!$=@|&".includes(ch)) {
      tokens.push({ kind: "punct", value: ch, pos: i });
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const start = i;
      while (i < source.length && /[A-Za-z0-9_]/.test(source[i]!)) i++;
      tokens.push({ kind: "name", value: source.slice(start, i), pos: start });
      continue;
    }
    if (/[-0-9]/.test(ch)) {
      const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(source.slice(i));
      if (!match) throw new GraphQLSyntaxError(`Syntax Error: invalid number at position ${i}`);
      tokens.push({ kind: "number", value: Number(match[0]), pos: i });
      i += match[0].length;
      continue;
    }
    if (source.startsWith('"""', i)) {
      const end = source.indexOf('"""', i + 3);
      if (end === -1) throw new GraphQLSyntaxError(`Syntax Error: unterminated block string at position ${i}`);
      tokens.push({ kind: "string", value: source.slice(i + 3, end), pos: i });
      i = end + 3;
      continue;
    }
    if (ch === '"') {
      const start = i;
      i++;
      let text = "";
      for (;;) {
        if (i >= source.length || source[i] === "\n") throw new GraphQLSyntaxError(`Syntax Error: unterminated string at position ${start}`);
        const c = source[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\") {
          const next = source[i + 1];
          const escapes: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
          if (next === "u") {
            text += String.fromCharCode(parseInt(source.slice(i + 2, i + 6), 16));
            i += 6;
          } else if (next !== undefined && escapes[next] !== undefined) {
            text += escapes[next];
            i += 2;
          } else {
            throw new GraphQLSyntaxError(`Syntax Error: invalid escape at position ${i}`);
          }
          continue;
        }
        text += c;
        i++;
      }
      tokens.push({ kind: "string", value: text, pos: start });
      continue;
    }
    throw new GraphQLSyntaxError(`Syntax Error: unexpected character ${JSON.stringify(ch)} at position ${i}`);
  }
  tokens.push({ kind: "eof", value: "", pos: source.length });
  return tokens;
}

class Parser {
  private index = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly variables: Record<string, unknown>,
  ) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    return this.tokens[this.index++]!;
  }

  private describe(token: Token): string {
    return token.kind === "eof" ? "<EOF>" : JSON.stringify(String(token.value));
  }

  private expectPunct(value: string): void {
    const token = this.next();
    if (token.kind !== "punct" || token.value !== value) {
      throw new GraphQLSyntaxError(`Syntax Error: Expected "${value}", found ${this.describe(token)} at position ${token.pos}`);
    }
  }

  private isPunct(value: string): boolean {
    const token = this.peek();
    return token.kind === "punct" && token.value === value;
  }

  private expectName(): string {
    const token = this.next();
    if (token.kind !== "name") throw new GraphQLSyntaxError(`Syntax Error: Expected Name, found ${this.describe(token)} at position ${token.pos}`);
    return token.value;
  }

  document(): GqlOperation[] {
    const operations: GqlOperation[] = [];
    while (this.peek().kind !== "eof") operations.push(this.operation());
    if (operations.length === 0) throw new GraphQLSyntaxError("Syntax Error: the document has no operation");
    return operations;
  }

  private operation(): GqlOperation {
    if (this.isPunct("{")) return { type: "query", name: undefined, selections: this.selectionSet() };
    const keyword = this.expectName();
    if (keyword === "fragment") throw new GraphQLSyntaxError("fragments are not supported by the Ferry local server");
    if (keyword !== "query" && keyword !== "mutation") {
      throw new GraphQLSyntaxError(`Syntax Error: operation type "${keyword}" is not supported (query or mutation)`);
    }
    const name = this.peek().kind === "name" ? this.expectName() : undefined;
    if (this.isPunct("(")) this.variableDefinitions();
    if (this.isPunct("@")) throw new GraphQLSyntaxError("directives are not supported by the Ferry local server");
    return { type: keyword, name, selections: this.selectionSet() };
  }

  /** Reads `($a: Type! = default, ...)`, applying defaults to variables not given. */
  private variableDefinitions(): void {
    this.expectPunct("(");
    while (!this.isPunct(")")) {
      this.expectPunct("$");
      const name = this.expectName();
      this.expectPunct(":");
      this.type();
      if (this.isPunct("=")) {
        this.next();
        const value = this.value(true);
        if (this.variables[name] === undefined) this.variables[name] = value;
      }
    }
    this.expectPunct(")");
  }

  private type(): void {
    if (this.isPunct("[")) {
      this.next();
      this.type();
      this.expectPunct("]");
    } else {
      this.expectName();
    }
    if (this.isPunct("!")) this.next();
  }

  private selectionSet(): GqlField[] {
    this.expectPunct("{");
    const fields: GqlField[] = [];
    while (!this.isPunct("}")) {
      if (this.isPunct("...")) throw new GraphQLSyntaxError("fragments are not supported by the Ferry local server");
      fields.push(this.field());
    }
    this.expectPunct("}");
    if (fields.length === 0) throw new GraphQLSyntaxError("Syntax Error: empty selection set");
    return fields;
  }

  private field(): GqlField {
    let alias = this.expectName();
    let name = alias;
    if (this.isPunct(":")) {
      this.next();
      name = this.expectName();
    }
    const args: Record<string, GqlValue> = {};
    if (this.isPunct("(")) {
      this.next();
      while (!this.isPunct(")")) {
        const argName = this.expectName();
        this.expectPunct(":");
        args[argName] = this.value(false);
      }
      this.expectPunct(")");
    }
    if (this.isPunct("@")) throw new GraphQLSyntaxError("directives are not supported by the Ferry local server");
    const selections = this.isPunct("{") ? this.selectionSet() : undefined;
    return { alias, name, args, selections };
  }

  private value(constant: boolean): GqlValue {
    const token = this.next();
    if (token.kind === "punct") {
      if (token.value === "$" && !constant) {
        const name = this.expectName();
        const value = this.variables[name];
        return (value === undefined ? null : value) as GqlValue;
      }
      if (token.value === "[") {
        const items: GqlValue[] = [];
        while (!this.isPunct("]")) items.push(this.value(constant));
        this.next();
        return items;
      }
      if (token.value === "{") {
        const obj: Record<string, GqlValue> = {};
        while (!this.isPunct("}")) {
          const key = this.expectName();
          this.expectPunct(":");
          obj[key] = this.value(constant);
        }
        this.next();
        return obj;
      }
    }
    if (token.kind === "string" || token.kind === "number") return token.value;
    if (token.kind === "name") {
      if (token.value === "true") return true;
      if (token.value === "false") return false;
      if (token.value === "null") return null;
      return token.value; // an enum value
    }
    throw new GraphQLSyntaxError(`Syntax Error: Unexpected ${this.describe(token)} at position ${token.pos}`);
  }
}

/** Parses `source` and picks the operation to run (by name when the document has several). */
export function parseOperation(source: string, variables: Record<string, unknown>, operationName?: string): GqlOperation {
  const operations = new Parser(tokenize(source), { ...variables }).document();
  if (operationName) {
    const named = operations.find((op) => op.name === operationName);
    if (!named) throw new GraphQLSyntaxError(`Unknown operation named "${operationName}".`);
    return named;
  }
  if (operations.length > 1) throw new GraphQLSyntaxError("Must provide operation name if query contains multiple operations.");
  return operations[0]!;
}
