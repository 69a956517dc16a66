// `fleetsh/inventory`: host sets and the inventory file, for tools that want them without the rest
// (the range syntax and set algebra of host sets, reading and querying fleetsh.yml, inventories
// from commands). The public
// names are listed in docs/architecture.md and held to it by test/exports.test.ts.
export { HostSet, expand, type HostSetOptions } from './hostset.js';
export type { GroupResolver } from './expand.js';
export { fold } from './fold.js';
export { HostSetError, InventoryError, type InventoryIssue } from './errors.js';
export {
  Inventory,
  loadInventory,
  inventoryFromCommand,
  parseInventory,
  DEFAULT_INVENTORY,
  type HostSettings,
  type InventoryTarget,
  type InventoryOptions,
  type CommandInventoryOptions,
  type SelectOptions,
} from './inventory.js';
export type { HostKeyPolicy } from '../ssh/types.js';
