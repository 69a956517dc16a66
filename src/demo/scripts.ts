// The demo scripts each host has on its PATH (`<host>/bin`). They print realistic lines, take a
// little time, and keep their state in the host's own folder, so every host behaves like a server.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ScriptOptions {
  /** The host's health check fails (exit 1 with a message on stderr). */
  failing: boolean;
}

const deploy = `#!/bin/sh
# deploy.sh --version=X: unpack a release, switch the current symlink, restart the app.
version=""
for arg in "$@"; do
  case "$arg" in
    --version=*) version="\${arg#--version=}" ;;
    -h|--help) echo "usage: deploy.sh --version=X"; exit 0 ;;
    *) echo "deploy.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then echo "deploy.sh: --version=X is required" >&2; exit 2; fi
echo "[$FLEETSH_DEMO_HOST] fetching release $version"
sleep 0.2
mkdir -p "releases/$version"
echo "$version" > "releases/$version/VERSION"
echo "[$FLEETSH_DEMO_HOST] unpacked 42 files into releases/$version"
sleep 0.1
rm -f current && ln -s "releases/$version" current
echo "$version" > .version
echo "[$FLEETSH_DEMO_HOST] restarting app"
sleep 0.2
echo "[$FLEETSH_DEMO_HOST] deployed $version"
`;

const healthOk = `#!/bin/sh
# health-check.sh: is the app answering?
sleep 0.1
version="$(cat .version 2>/dev/null || echo none)"
echo "healthy: version=$version checks=3/3"
`;

const healthFailing = `#!/bin/sh
# health-check.sh: is the app answering? (this host's app is broken)
sleep 0.2
echo "health-check: GET http://127.0.0.1:8080/health: 503 Service Unavailable (connection pool exhausted)" >&2
exit 1
`;

const migrate = `#!/bin/sh
# migrate.sh: apply pending database migrations (idempotent).
mkdir -p db
for m in 001_create_users 002_add_email_index 003_orders_table; do
  if [ -e "db/$m" ]; then
    echo "skip  $m (already applied)"
  else
    sleep 0.1
    touch "db/$m"
    echo "apply $m ... ok"
  fi
done
echo "migrations up to date"
`;

const hostname = `#!/bin/sh
echo "$FLEETSH_DEMO_HOST"
`;

const systemctlOk = `#!/bin/sh
# A tiny systemctl: \`systemctl is-active UNIT\` and \`systemctl status UNIT\`.
case "$1" in
  is-active) echo active ;;
  status) echo "● \${2:-app}.service - demo unit"; echo "     Active: active (running)" ;;
  restart|reload|start|stop) sleep 0.1 ;;
  *) echo "systemctl: unsupported in the demo: $1" >&2; exit 1 ;;
esac
`;

const systemctlFailing = `#!/bin/sh
case "$1" in
  is-active) echo failed; exit 3 ;;
  status) echo "● \${2:-app}.service - demo unit"; echo "     Active: failed (Result: exit-code)"; exit 3 ;;
  restart|reload|start|stop) sleep 0.1 ;;
  *) echo "systemctl: unsupported in the demo: $1" >&2; exit 1 ;;
esac
`;

/** The names of the scripts on every demo host's PATH. */
export const DEMO_SCRIPTS = ['deploy.sh', 'health-check.sh', 'migrate.sh', 'hostname', 'systemctl'];

export async function writeScripts(binDir: string, opts: ScriptOptions): Promise<void> {
  const files: Record<string, string> = {
    'deploy.sh': deploy,
    'health-check.sh': opts.failing ? healthFailing : healthOk,
    'migrate.sh': migrate,
    hostname,
    systemctl: opts.failing ? systemctlFailing : systemctlOk,
  };
  await Promise.all(
    Object.entries(files).map(async ([name, text]) => {
      const path = join(binDir, name);
      await writeFile(path, text, { mode: 0o755 });
      await chmod(path, 0o755); // The umask may have cleared bits.
    }),
  );
}
