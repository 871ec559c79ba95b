import { readFileSync } from 'node:fs';
import ts from 'typescript';

export const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** The client teams' guide the README points to, whose code blocks are checked like the README's. */
const TYPED_CLIENTS = readFileSync(new URL('../../docs/typed-clients.md', import.meta.url), 'utf8');

/** The fenced code blocks of one language in the README and the typed-client guide, in order. */
export function readmeBlocks(language: string): string[] {
  return [...`${README}\n${TYPED_CLIENTS}`.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```', 'g'))].map((match) => match[1]!);
}

/** The one `ts` block of the README containing `marker`. */
export function readmeBlock(marker: string): string {
  const found = readmeBlocks('ts').filter((block) => block.includes(marker));
  if (found.length !== 1) throw new Error(`expected one README ts block with ${marker}, found ${found.length}`);
  return found[0]!;
}

/**
 * The value a README block declares as `export const <name>`, evaluated as the block wrote it
 * (types stripped; imports dropped, so the declaration may use only what the block defines).
 */
export function readmeValue(marker: string, name: string): unknown {
  const source = readmeBlock(marker)
    .split('\n')
    .filter((line) => !/^\s*import\s/.test(line) && !/^export default /.test(line))
    .join('\n');
  // Up to the client the block goes on to build (that needs the imports).
  const cut = source.search(/^const (apollo|urql) =/m);
  const declaration = cut === -1 ? source : source.slice(0, cut);
  const js = ts.transpileModule(declaration, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  return new Function(`${js.replace(/^export /gm, '')}\nreturn ${name};`)();
}
