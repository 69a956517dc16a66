// The batch-operations guide's examples, run as written (import from 'fleetsh', servers given as { host, username })
// in a child process whose ~/.ssh/config points at the harness fleet: they work, and the script ends
// by itself soon after its last command without calling close().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startFleet, sshdAvailable, type TestFleet } from '../harness/fleet.js';

const skip = !sshdAvailable() && 'OpenSSH sshd not installed';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = import.meta.resolve('tsx');

describe("the batch-operations guide's examples", { skip }, () => {
  let fleet: TestFleet;
  let project: string;
  let home: string;
  before(async () => {
    fleet = await startFleet({
      healthy: 3,
      aliases: ['web1.example.com', 'web2.example.com', 'web3.example.com'],
      faults: ['dead-port'],
    });
    project = mkdtempSync(path.join(tmpdir(), 'fleetsh-guide-'));
    // `import { $ } from 'fleetsh'` resolves to this repository's source.
    mkdirSync(path.join(project, 'node_modules', 'fleetsh'), { recursive: true });
    writeFileSync(
      path.join(project, 'node_modules', 'fleetsh', 'package.json'),
      JSON.stringify({ name: 'fleetsh', type: 'module', exports: './index.ts' }),
    );
    writeFileSync(
      path.join(project, 'node_modules', 'fleetsh', 'index.ts'),
      `export * from ${JSON.stringify(path.join(repo, 'src/index.ts'))};\n`,
    );
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ type: 'module' }));
    home = path.join(project, 'home');
    mkdirSync(path.join(home, '.ssh'), { recursive: true });
    writeFileSync(path.join(home, '.ssh', 'config'), `Include ${fleet.sshConfigPath}\n`);
  });
  after(async () => {
    await fleet?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  /** Runs a script in the project; resolves with its output and when it exited. */
  function run(
    name: string,
    code: string,
  ): Promise<{ stdout: string; stderr: string; code: number | null; exitedAt: number }> {
    const file = path.join(project, `${name}.ts`);
    writeFileSync(file, code);
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', tsx, file], {
        cwd: project,
        env: { PATH: process.env.PATH, HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code, exitedAt: Date.now() });
      });
    });
  }
  const servers = () =>
    JSON.stringify(
      fleet.healthy.map((h) => ({ host: h.name, username: fleet.user })),
      null,
      2,
    );

  test('simple parallel execution; the script exits by itself within 1 s of its last command', async () => {
    const r = await run(
      'parallel',
      `import { $ } from 'fleetsh';

// Define your server fleet
const servers = ${servers()};

// Execute the same command on all servers
const results = await Promise.all(
  servers.map(server => 
    $.ssh(server)\`uptime\`
  )
);

// Process results
results.forEach((result, index) => {
  console.log(\`\${servers[index].host}: \${result.stdout.trim()}\`);
});
console.log('LAST', Date.now());
`,
    );
    assert.equal(r.code, 0, r.stderr);
    for (const h of fleet.healthy)
      assert.match(r.stdout, new RegExp(`^${h.name.replace(/\./g, '\\.')}: .*load average`, 'm'));
    const last = Number(/LAST (\d+)/.exec(r.stdout)![1]);
    assert.ok(r.exitedAt - last < 1000, `exited ${r.exitedAt - last} ms after its last command`);
  });

  test('error-resilient execution, multi-command batch on reused connections, health check', async () => {
    const r = await run(
      'resilient',
      `import { $ } from 'fleetsh';
const servers = [...${servers()}, { host: 'h-dead-port', username: ${JSON.stringify(fleet.user)} }];

// Use Promise.allSettled to continue even if some servers fail
const results = await Promise.allSettled(
  servers.map(server => 
    $.ssh(server)\`systemctl status nginx\`
  )
);

// Handle mixed success/failure results
results.forEach((result, index) => {
  const server = servers[index];
  
  if (result.status === 'fulfilled') {
    console.log(\`✅ \${server.host}: \${result.value.stdout.trim()}\`);
  } else {
    console.error(\`❌ \${server.host}: \${result.reason.message}\`);
  }
});

async function multiCommandBatch(servers: any[], commands: string[]) {
  const sshConnections = servers.map(server => $.ssh(server));
  try {
    const results = await Promise.all(
      sshConnections.map(async (ssh, serverIndex) => {
        const serverResults = [];
        for (const command of commands) {
          try {
            const result = await ssh\`\${command}\`;
            serverResults.push({ command, success: true, output: result.stdout });
          } catch (error) {
            serverResults.push({ command, success: false, error: error.message });
          }
        }
        return { server: servers[serverIndex].host, commands: serverResults };
      })
    );
    return results;
  } finally {
    // SSH connections are automatically pooled and cleaned up
  }
}
const batch = await multiCommandBatch(servers.slice(0, 3), ['echo one', 'echo two | tr a-z A-Z', 'exit 3']);
console.log('BATCH', JSON.stringify(batch));

async function healthCheck(servers: any[]) {
  const results = await Promise.allSettled(
    servers.map(async (server) => {
      const ssh = $.ssh(server);
      const checks = await Promise.allSettled([
        ssh\`systemctl is-active nginx\`,
        ssh\`df -h / | tail -1 | awk '{print $5}' | sed 's/%//'\`,
        ssh\`free | grep Mem | awk '{printf "%.0f", $3/$2 * 100.0}'\`,
        ssh\`uptime | awk '{print $3}'\`
      ]);
      return {
        server: server.host,
        nginx: checks[0].status === 'fulfilled',
        diskUsage: checks[1].status === 'fulfilled' ? parseInt(checks[1].value.stdout) : null,
        memoryUsage: checks[2].status === 'fulfilled' ? parseInt(checks[2].value.stdout) : null,
        uptime: checks[3].status === 'fulfilled' ? checks[3].value.stdout.trim() : null
      };
    })
  );
  return results.map(r => r.status === 'fulfilled' ? r.value : null).filter(Boolean);
}
console.log('HEALTH', JSON.stringify(await healthCheck(servers.slice(0, 3))));
`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /❌ h-dead-port: h-dead-port: connection refused/);
    const batch = JSON.parse(/BATCH (.*)/.exec(r.stdout)![1]!);
    assert.equal(batch.length, 3);
    for (const b of batch) {
      assert.deepEqual(
        b.commands.map((c: { success: boolean }) => c.success),
        [true, true, false],
      );
      assert.equal(b.commands[1].output, 'TWO\n');
      assert.match(b.commands[2].error, /exited with code 3/);
    }
    const health = JSON.parse(/HEALTH (.*)/.exec(r.stdout)![1]!);
    assert.equal(health.length, 3);
    for (const h of health) {
      assert.equal(typeof h.diskUsage, 'number');
      assert.equal(typeof h.memoryUsage, 'number');
    }
  });

  test('file distribution and configuration sync with backup, validation and restore', async () => {
    const remoteDir = mkdtempSync(path.join(tmpdir(), 'fleetsh-guide-remote-'));
    try {
      mkdirSync(path.join(project, 'configs', remoteDir.slice(1)), { recursive: true });
      const configFile = path.join(remoteDir, 'app.conf');
      writeFileSync(configFile, 'old config\n');
      writeFileSync(path.join(project, 'configs', configFile), 'new config\n');
      const r = await run(
        'sync',
        `import { $ } from 'fleetsh';
const servers = ${servers()}.slice(0, 1);

async function distributeFiles(servers: any[], files: Array<{ local: string; remote: string }>) {
  const results = await Promise.allSettled(
    servers.map(async (server) => {
      const ssh = $.ssh(server);
      const fileResults = [];
      for (const file of files) {
        try {
          await ssh.uploadFile(file.local, file.remote);
          fileResults.push({ file: file.remote, success: true });
        } catch (error) {
          fileResults.push({ file: file.remote, success: false, error: error.message });
        }
      }
      return { server: server.host, files: fileResults, successful: fileResults.filter(f => f.success).length };
    })
  );
  return results;
}
console.log('DIST', JSON.stringify(await distributeFiles(servers, [
  { local: ${JSON.stringify(path.join(project, 'package.json'))}, remote: ${JSON.stringify(path.join(remoteDir, 'pkg.json'))} },
  { local: 'missing-file', remote: ${JSON.stringify(path.join(remoteDir, 'x'))} },
])));

async function syncConfiguration(servers: any[], configFiles: string[]) {
  const results = await Promise.all(
    servers.map(async (server) => {
      const ssh = $.ssh(server);
      const changes = [];
      for (const configFile of configFiles) {
        try {
          await ssh\`cp \${configFile} \${configFile}.backup\`;
          await ssh.uploadFile(\`./configs/\${configFile}\`, configFile);
          const validation = await ssh\`nginx -t\`.nothrow();
          if (validation.exitCode !== 0) {
            await ssh\`mv \${configFile}.backup \${configFile}\`;
            changes.push({ file: configFile, success: false, error: 'Validation failed' });
          } else {
            changes.push({ file: configFile, success: true });
          }
        } catch (error) {
          changes.push({ file: configFile, success: false, error: error.message });
        }
      }
      return { server: server.host, changes };
    })
  );
  return results;
}
console.log('SYNC', JSON.stringify(await syncConfiguration(servers, [${JSON.stringify(configFile)}])));
`,
      );
      assert.equal(r.code, 0, r.stderr);
      const dist = JSON.parse(/DIST (.*)/.exec(r.stdout)![1]!);
      assert.equal(dist[0].value.successful, 1);
      assert.match(dist[0].value.files[1].error, /missing-file/);
      assert.equal(
        readFileSync(path.join(remoteDir, 'pkg.json'), 'utf8'),
        JSON.stringify({ type: 'module' }),
      );
      const sync = JSON.parse(/SYNC (.*)/.exec(r.stdout)![1]!);
      // No nginx on the test hosts: validation fails and the backup is put back.
      assert.deepEqual(sync[0].changes, [{ file: configFile, success: false, error: 'Validation failed' }]);
      assert.equal(readFileSync(configFile, 'utf8'), 'old config\n');
    } finally {
      rmSync(remoteDir, { recursive: true, force: true });
    }
  });
});
