/**
 * The layers of `src/`, lowest first; each imports only from those below it (README: "How the
 * code is laid out"). `npm run check:layers` (in `.ci/run`) fails on any import that breaks this.
 *
 *   lib/       small helpers, no project imports
 *   domain/    the gateway's own model of a session and its decision, and the status lifecycle
 *   config.ts  the gateway's environment, described once; config/ its readers and the sandbox's
 *   didit/     the Didit client: transport, the API adapters normalising into domain/, wire types
 *   core/      the gateway's domain services and errors: no HTTP, no schema, no GraphQL package
 *   audit/     the audit trail (PostgreSQL / PGlite, hash chain, keys); core/audit.ts is its port
 *   schema/    Pothos types and resolvers
 *   http/      node HTTP, webhooks, WebSocket; http/graphql/ the Yoga server and its plugins
 *   sandbox-mode/          sandbox mode: the simulator in-process, demo tokens, GraphiQL's examples
 *   gateway.ts, index.ts   the composition root
 *
 * sandbox/ (the Didit simulator) stands beside the gateway: it may use lib/, domain/'s status
 * lifecycle (the moves Didit makes), config/ (its own variables) and didit/'s helpers, and nothing
 * of the gateway.
 */
const layer = (name, folder, allowed) => ({
  name: `${name}-imports-only-below`,
  comment: `${folder} may import only from ${allowed.join(', ')}`,
  severity: 'error',
  from: { path: `^src/${folder}` },
  to: { path: '^src/', pathNot: allowed.map((a) => `^src/${a}`) },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import circles', from: { path: '^src/' }, to: { circular: true } },
    layer('lib', 'lib/', ['lib/']),
    layer('domain', 'domain/', ['lib/', 'domain/']),
    layer('config', 'config(\\.ts$|/)', ['lib/', 'config(\\.ts$|/)']),
    layer('didit', 'didit/', ['lib/', 'domain/', 'didit/']),
    layer('core', 'core/', ['lib/', 'domain/', 'config(\\.ts$|/)', 'didit/', 'core/']),
    // audit/actions.ts records the code a caller got, as http/errors.ts (a leaf over core/ and didit/) gives it.
    layer('audit', 'audit/', ['lib/', 'domain/', 'config(\\.ts$|/)', 'didit/', 'core/', 'audit/', 'http/errors\\.ts$']),
    layer('schema', 'schema/', ['lib/', 'domain/', 'config(\\.ts$|/)', 'didit/', 'core/', 'audit/', 'schema/']),
    layer('http', 'http/', ['lib/', 'domain/', 'config(\\.ts$|/)', 'didit/', 'core/', 'audit/', 'schema/', 'http/', 'generated/']),
    layer('sandbox', 'sandbox/', ['lib/', 'domain/', 'config/', 'didit/', 'sandbox/']),
    layer('sandbox-mode', 'sandbox-mode/', ['lib/', 'config(\\.ts$|/)', 'sandbox/', 'sandbox-mode/']),
    {
      name: 'core-knows-no-graphql',
      comment: 'core/ is the domain: its errors are its own (core/errors.ts), GraphQL is for schema/ and http/',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: 'node_modules/(graphql|graphql-yoga|@graphql-yoga/[^/]+|@pothos/[^/]+)/' },
    },
    {
      name: 'src-stands-alone',
      comment: 'the product never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/generated/' },
    // Type-only imports count: a layer that needs another's types depends on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], mainFields: ['module', 'main', 'types'] },
  },
};
