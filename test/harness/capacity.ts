// A shared resource of limited capacity, for testing adaptive concurrency: a TCP server on loopback
// that every host's command uses (a database, an artifact store, a license server behind a fleet).
// Each job needs `baseMs` of service; the server shares itself among the jobs in progress
// (processor sharing): N jobs at once each progress at min(1, capacity / N), so each takes
// base × max(1, N / capacity), and past capacity `contention` slows everyone by that much more per
// job over it (locks, cache misses), so that throughput falls past the knee as it does in life.
//
//   const cap = await startCapacity({ capacity: 6, baseMs: 300 });
//   fleet(hosts).run`${$.raw(cap.command)}`;   // bash: one job, ok once served
//   cap.served   // host names (FLEETSH_HOST) in the order they were served; cap.peak: most at once
//   await cap.close();
//
// Event-driven (a timer for the next job to finish), not ticking: exact and idle when unused.
import net from 'node:net';

export interface CapacityOptions {
  capacity: number;
  baseMs: number;
  contention?: number;
}

export interface CapacityServer {
  port: number;
  /** A bash command line for a host: sends its FLEETSH_HOST, waits for "ok", fails otherwise. */
  command: string;
  /** Host names of the jobs served, in order. */
  served: string[];
  /** The most jobs in progress at once. */
  peak: number;
  close(): Promise<void>;
}

interface Job {
  left: number; // ms of service at full speed
  sock: net.Socket;
  host: string;
}

export async function startCapacity(opts: CapacityOptions): Promise<CapacityServer> {
  const { capacity, baseMs } = opts;
  const contention = opts.contention ?? 0;
  const jobs = new Set<Job>();
  const sockets = new Set<net.Socket>();
  let last = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const rate = (n: number) => Math.min(1, capacity / n) / (1 + contention * Math.max(0, n - capacity));

  const advance = () => {
    const now = performance.now();
    const r = rate(jobs.size);
    for (const j of jobs) j.left -= (now - last) * r;
    last = now;
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = undefined;
    if (jobs.size === 0) return;
    const next = Math.min(...[...jobs].map((j) => j.left));
    timer = setTimeout(tick, Math.max(1, next / rate(jobs.size)));
  };
  const tick = () => {
    advance();
    for (const j of [...jobs]) {
      if (j.left > 0.5) continue;
      jobs.delete(j);
      result.served.push(j.host);
      j.sock.end('ok\n');
    }
    schedule();
  };

  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    let buf = '';
    let job: Job | undefined;
    sock.on('data', (d) => {
      if (job) return;
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      advance();
      job = { left: baseMs, sock, host: buf.slice(0, nl) };
      jobs.add(job);
      result.peak = Math.max(result.peak, jobs.size);
      schedule();
    });
    sock.on('close', () => {
      sockets.delete(sock);
      if (job && jobs.has(job)) {
        advance();
        jobs.delete(job);
        schedule();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  server.unref(); // a forgotten server must not keep the test process alive
  const port = (server.address() as net.AddressInfo).port;
  const result: CapacityServer = {
    port,
    command: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo "$FLEETSH_HOST" >&3 && read -r reply <&3 && [ "$reply" = ok ]'`,
    served: [],
    peak: 0,
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return result;
}
