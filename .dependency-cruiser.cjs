/**
 * The layers, lowest first: core, store, runtime, process, interfaces. Enumerators for outside data (PostgreSQL,
 * CSV) sit beside the core and use nothing but it. A module imports
 * only its own layer or those below it, and nothing imports in a circle. `npm test` runs this (`npm run lint:layers`).
 */
const CORE = '^(src/[^/]+\\.ts|src/enumerators/|adapters/(abort-signal|max-runtime|worker-stop|throttle)\\.ts)';
const STORE = '^src/store/';
const RUNTIME = '^(src/bullmq/|adapters/bullmq\\.ts$)';
const PROCESS = '^src/(process|supervisor)/';
const INTERFACES = '^src/(cli|dashboard)/';
const ENUMERATORS = '^src/(postgres|csv)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle makes load order decide behaviour and keeps layers from being taken apart.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-imports-only-core',
      severity: 'error',
      comment: 'The core runs without a runtime, a process model or a command line.',
      from: { path: CORE },
      to: { path: [STORE, RUNTIME, PROCESS, INTERFACES] },
    },
    {
      name: 'core-without-optional-packages',
      severity: 'error',
      comment: 'The core imports without bullmq, ioredis, pg or csv-parse installed, types included.',
      from: { path: CORE },
      to: { path: '(^|/)node_modules/(bullmq|ioredis|pg|csv-parse|cli-progress)/' },
    },
    {
      name: 'core-without-enumerators',
      severity: 'error',
      comment: 'The core knows enumerations only as iterables; a data source is something a job imports, not the engine.',
      from: { path: CORE },
      to: { path: ENUMERATORS },
    },
    {
      name: 'enumerators-use-only-core',
      severity: 'error',
      comment: 'An enumerator runs under every runtime, so it depends on none: not on a store, a runtime, a process or the CLI.',
      from: { path: ENUMERATORS },
      to: { path: [STORE, RUNTIME, PROCESS, INTERFACES, '(^|/)node_modules/(bullmq|ioredis|cli-progress)/'] },
    },
    {
      name: 'store-below-runtime',
      severity: 'error',
      comment: 'A store keeps jobs for a runtime and knows nothing of one: a second runtime can use it, and a second store can replace it.',
      from: { path: STORE },
      to: { path: [RUNTIME, PROCESS, INTERFACES] },
    },
    {
      name: 'store-without-bullmq',
      severity: 'error',
      comment: 'The Redis store reaches BullMQ structures through a structural type, so it imports no bullmq, not even its types.',
      from: { path: STORE },
      to: { path: '(^|/)node_modules/bullmq/' },
    },
    {
      name: 'runtime-below-process',
      severity: 'error',
      comment: 'A runtime is used by processes and commands, never the other way round.',
      from: { path: RUNTIME },
      to: { path: [PROCESS, INTERFACES] },
    },
    {
      name: 'process-below-interfaces',
      severity: 'error',
      comment: 'The supervisor and forked workers run without the command line; they never raise its UsageError.',
      from: { path: PROCESS },
      to: { path: INTERFACES },
    },
    {
      name: 'shared-process-helpers-below-supervisor',
      severity: 'error',
      comment: 'src/process holds what the supervisor, its workers and the CLI share; it does not depend on one of them.',
      from: { path: '^src/process/' },
      to: { path: '^src/supervisor/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import the checker cannot resolve is an import it cannot check.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a cycle or an upward import in types is still a seam in the wrong place.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
