// The one rule for environment variable names: commands' `.env()`, the inventory's vars (which
// become every command's environment on their host) and the demo's hosts all check names with it.

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Letters, digits and `_`, not starting with a digit: a name every POSIX shell can hold. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}
