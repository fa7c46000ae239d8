// The import rules of src/, checked by `npm run lint:deps` (dependency-cruiser) in CI.
//
// Layers, highest first. A module may import its own layer and any layer below it, never one above:
//
//   top        src/index.ts (the worker's handlers, the Durable Object exports), src/app.ts (the app)
//   entry      routes/ and middleware/ (the HTTP edge), app-env.ts (the Hono context type they
//              share), mocks/ (stand-ins for outside systems that call into the service as the real
//              ones would: the payment gateway's alarm settles through the webhook's function)
//   services   services/: the flows
//   adapters   durable-objects/, clients/, cache/, queues/: what the flows call; peers, which may
//              use one another (never in a cycle)
//   schemas    schemas/: the zod contract shared by routes, Durable Object RPC and queue messages;
//              derived from the drizzle tables, so just above db/
//   db         db/: the drizzle schema, the client, the queries
//   base       lib/ (errors, ids, jwt, logging, ...) and config.ts (the parsed environment)
//
// Type-only imports count (tsPreCompilationDeps): a type that a lower layer needs lives in that
// layer or below, and a cycle through types still ties two modules together.
const LAYERS = [
  { name: "top", path: "^src/(index|app)\\.ts$" },
  { name: "entry", path: "^src/(routes|middleware|mocks)/|^src/app-env\\.ts$" },
  { name: "services", path: "^src/services/" },
  { name: "adapters", path: "^src/(durable-objects|clients|cache|queues)/" },
  { name: "schemas", path: "^src/schemas/" },
  { name: "db", path: "^src/db/" },
  { name: "base", path: "^src/lib/|^src/config\\.ts$" },
];

const upward = LAYERS.slice(1).map((layer, index) => {
  const above = LAYERS.slice(0, index + 1);
  return {
    name: `${layer.name}-imports-upward`,
    comment: `The ${layer.name} layer imports from a layer above it (${above.map((l) => l.name).join(", ")}): move the code to the layer that uses it, or lower.`,
    severity: "error",
    from: { path: layer.path },
    to: { path: above.map((l) => l.path).join("|") },
  };
});

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "An import cycle: break it by moving the shared code (often a type) to the lower of the two.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "layer-unknown",
      comment: "A module outside every layer: add its folder to LAYERS in .dependency-cruiser.cjs.",
      severity: "error",
      from: { path: "^src/", pathNot: LAYERS.map((l) => l.path).join("|") },
      to: {},
    },
    ...upward,
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
  },
};
