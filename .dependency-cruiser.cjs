/**
 * The layers of `src/`, lowest first; each imports only from those below it (README: "How the
 * code is laid out"). `npm run check:layers` (in `.ci/run`) fails on any import that breaks this.
 *
 *   lib/       small helpers, no project imports
 *   config.ts  the environment, described once
 *   didit/     the Didit client: transport, the API adapters, wire types
 *   core/      the gateway's domain services, no HTTP and no schema
 *   schema/    Pothos types and resolvers
 *   http/      node HTTP, webhooks, WebSocket; http/graphql/ the Yoga server and its plugins
 *   gateway.ts, index.ts   the composition root
 *
 * sandbox/ (the Didit simulator) stands beside the gateway: it may use lib/, config.ts and
 * didit/'s wire types, and nothing of the gateway.
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
    layer('config', 'config\\.ts$', ['lib/', 'config\\.ts$']),
    layer('didit', 'didit/', ['lib/', 'didit/']),
    layer('core', 'core/', ['lib/', 'config\\.ts$', 'didit/', 'core/']),
    layer('schema', 'schema/', ['lib/', 'config\\.ts$', 'didit/', 'core/', 'schema/']),
    layer('http', 'http/', ['lib/', 'config\\.ts$', 'didit/', 'core/', 'schema/', 'http/', 'generated/']),
    layer('sandbox', 'sandbox/', ['lib/', 'config\\.ts$', 'didit/', 'sandbox/']),
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
