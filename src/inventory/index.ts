// Host selection: the range syntax and set algebra of host sets, and the inventory file.
export { HostSet, expand, DEFAULT_MAX_HOSTS, type HostSetOptions } from './hostset.js';
export type { GroupResolver } from './expand.js';
export { fold, foldPatterns } from './fold.js';
export { naturalCompare } from './natural.js';
export { HostSetError, InventoryError, formatIssue, type InventoryIssue } from './errors.js';
export {
  Inventory,
  loadInventory,
  parseInventory,
  DEFAULT_INVENTORY,
  type HostSettings,
  type InventoryTarget,
  type InventoryOptions,
  type SelectOptions,
} from './inventory.js';
export type { HostKeyPolicy } from '../ssh/types.js';
