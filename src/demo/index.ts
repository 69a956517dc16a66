// The built-in local demo fleet: embedded ssh2 servers on loopback, used by `fleetsh demo` and tests.
export { startDemoFleet, demoPersonalities, DEMO_MARKER_VAR } from './fleet.js';
export type { DemoFleet, DemoFleetOptions, DemoHost } from './fleet.js';
export { DEMO_SCRIPTS } from './scripts.js';
