// The inventory read when none is named: by `loadInventory()`, and by the CLI without -i when the
// file exists. A module of its own so that the CLI can look for the file without loading YAML.
export const DEFAULT_INVENTORY = 'fleetsh.yml';
