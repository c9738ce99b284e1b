// The layers of gridlink, checked by `npm run lint:layers` (part of `npm test`).
// From the bottom up (docs/architecture.md, "Layers"):
//   errors, units, log, version      what everything may use
//   codec, iec104/codec              pure: bytes in, frames out
//   transport, iec104/link,          sockets with backpressure, the 104 link,
//   integrity, accounts, bus,        hashing, users, the bus,
//   config, protocol                 configuration, wire shapes
//   services/*, scada                what gridlink does; they take an actor
//   cluster                          a node of a cluster on NATS (docs/cluster.md):
//                                    implements the bus and the services' registries
//   native, web, admin, ftp,         front ends: a wire format onto the services
//   iec104/station
//   server                           the composition root: wires it all
// client and cli sit beside the server: the client speaks the wire formats
// and never loads server code; the cli loads the server only for `serve`.
/** Folders of the front ends and above: the services never reach them. */
const FRONTS = '^src/(native|web|admin|ftp|iec104/station)/';
const FOUNDATION = '^src/(errors|units|log|codec|iec104/codec|iec104/link|transport|integrity|accounts|bus|config|protocol)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one; split what they share into a lower module.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'codec-is-pure',
      severity: 'error',
      comment: 'Codecs turn bytes into frames and back: no sockets, no files, no other layer.',
      from: { path: '^src/(codec|iec104/codec)/' },
      to: { path: '^src/(?!codec/|iec104/codec/|errors/|units/)' },
    },
    {
      name: 'codec-touches-no-io',
      severity: 'error',
      comment: 'Codecs never open a socket or a file.',
      from: { path: '^src/(codec|iec104/codec)/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(net|tls|dgram|fs|fs/promises|http|https|http2|child_process|worker_threads)$' },
    },
    {
      name: 'foundation-stays-below-services',
      severity: 'error',
      comment: 'The foundation is used by the services, never the other way round.',
      from: { path: FOUNDATION },
      to: { path: '^src/(services|scada|server|cli|client|cluster)/|' + FRONTS },
    },
    {
      name: 'cluster-stays-below-fronts',
      severity: 'error',
      comment: 'The cluster layer implements the bus and the registries the services define (docs/cluster.md); the server wires it, front ends never reach into its callers.',
      from: { path: '^src/cluster/' },
      to: { path: '^src/(server|cli|client)/|' + FRONTS },
    },
    {
      name: 'services-know-the-cluster-by-interface',
      severity: 'error',
      comment: 'Chat and files work the same on one node or many: they define an interface (e.g. services/chat/nick-registry.ts) that src/cluster/ implements.',
      from: { path: '^src/services/' },
      to: { path: '^src/cluster/' },
    },
    {
      name: 'services-never-import-fronts',
      severity: 'error',
      comment: 'Services take an actor (src/accounts/actor.ts), never a front end\'s connection: every front end calls the same operations.',
      from: { path: '^src/(services|scada)/' },
      to: { path: '^src/(server|cli|client)/|' + FRONTS },
    },
    {
      name: 'fronts-never-import-the-server',
      severity: 'error',
      comment: 'The server wires the front ends; they do not reach back into it (or into the CLI).',
      from: { path: FRONTS },
      to: { path: '^src/(server|cli)/' },
    },
    {
      name: 'fronts-are-independent',
      severity: 'error',
      comment: 'A front end maps one wire format onto the services; what two of them share belongs in a service.',
      from: { path: '^src/(native|web|ftp|iec104/station)/' },
      to: { path: '^src/(native|web|ftp|iec104/station)/', pathNot: '^src/$1/' },
    },
    {
      name: 'client-loads-no-server-code',
      severity: 'error',
      comment: 'The client library speaks the wire formats; it never imports what runs in the server.',
      from: { path: '^src/client/' },
      to: { path: '^src/(services|scada|server|cli)/|' + FRONTS },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
