// Correctness of one run for bench/peers.ts: which hosts answered, and whether each host's output
// arrived whole. Each tool prints in its own format, so its stdout (a file) is read back line by line
// into one SHA-256 and byte count per host, and compared with what every host was expected to send:
//   prefix   `host: line` (pdsh, clush, the fleetsh CLI's stream mode)
//   pssh     `[n] hh:mm:ss [SUCCESS] host` and then that host's output (`parallel-ssh -i`)
//   ansible  `host | CHANGED | rc=0 | (stdout) text` (`ansible -o`, one line a host)
// Lines that belong to no host (a summary, a report) are counted as extra bytes: a tool that prints
// every host's output a second time shows it there. Parsing reads a 256 KiB chunk at a time and never
// holds a whole 200 MiB file; a format this bench does not know is no library's business.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

export type OutputFormat = 'prefix' | 'pssh' | 'ansible';

export interface Expected {
  sha256: string;
  bytes: number;
}

export interface OutputCheck {
  /** Hosts whose output is exactly what they sent. */
  complete: number;
  /** Hosts with some output, or reported as a success by the tool. */
  answered: number;
  /** Bytes on stdout that belong to no host. */
  extraBytes: number;
  /** What is wrong, for the FAILED note; empty when every host's output is complete. */
  problems: string[];
}

/** Calls onLine for every line of a file (without its '\n'), reading it in chunks. */
export function forEachLine(file: string, onLine: (line: Buffer) => void): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    let rest: Buffer = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const chunk = rest.length ? Buffer.concat([rest, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        onLine(chunk.subarray(start, nl));
        start = nl + 1;
      }
      rest = Buffer.from(chunk.subarray(start)); // a copy: buf is reused
    }
    if (rest.length) onLine(rest);
  } finally {
    closeSync(fd);
  }
}

/**
 * One host's output as SHA-256 and length, its lines (each with '\n' put back) gathered into 64 KiB
 * before hashing: one update a line made parsing 200 MiB take 8 s here.
 */
class HostHash {
  bytes = 0;
  #hash: Hash = createHash('sha256');
  #stage = Buffer.allocUnsafe(64 * 1024);
  #used = 0;
  add(line: Buffer): void {
    if (this.#used + line.length + 1 > this.#stage.length) this.#flush();
    if (line.length + 1 > this.#stage.length) {
      this.#hash.update(line);
      this.#hash.update('\n');
    } else {
      line.copy(this.#stage, this.#used);
      this.#stage[this.#used + line.length] = 10;
      this.#used += line.length + 1;
    }
    this.bytes += line.length + 1;
  }
  #flush(): void {
    if (this.#used) this.#hash.update(this.#stage.subarray(0, this.#used));
    this.#used = 0;
  }
  digest(): string {
    this.#flush();
    return this.#hash.digest('hex');
  }
}

const PSSH_HEADER = /^\[\d+\] \d\d:\d\d:\d\d \[(SUCCESS|FAILURE)\] (\S+)/;

/** Reads a tool's stdout back into each host's output and compares it with `expected`. */
export function checkOutput(
  file: string,
  format: OutputFormat,
  expected: Map<string, Expected>,
): OutputCheck {
  const hashes = new Map<string, HostHash>();
  const failedByTool = new Set<string>();
  let extraBytes = 0;
  const add = (host: string, text: Buffer) => {
    let h = hashes.get(host);
    if (!h) hashes.set(host, (h = new HostHash()));
    h.add(text);
  };
  let current: string | undefined; // pssh: the host whose output follows its header
  forEachLine(file, (line) => {
    if (format === 'prefix') {
      const colon = line.indexOf(': ');
      const host = colon > 0 && colon < 200 ? line.toString('latin1', 0, colon) : '';
      if (expected.has(host)) add(host, line.subarray(colon + 2));
      else extraBytes += line.length + 1;
    } else if (format === 'pssh') {
      const m = line[0] === 0x5b ? PSSH_HEADER.exec(line.toString('latin1', 0, 200)) : null;
      if (m && expected.has(m[2]!)) {
        current = m[2]!;
        if (m[1] === 'FAILURE') failedByTool.add(current);
        if (!hashes.has(current)) hashes.set(current, new HostHash());
      } else if (line.toString('latin1', 0, 8) === 'Stderr: ') {
        current = undefined;
        extraBytes += line.length + 1;
      } else if (current) add(current, line);
      else extraBytes += line.length + 1;
    } else {
      const text = line.toString('utf8');
      const parts = text.split(' | ');
      const host = parts[0]!;
      if (!expected.has(host)) {
        extraBytes += line.length + 1;
        return;
      }
      if (!/^(CHANGED|SUCCESS)\b/.test(parts[1] ?? '')) failedByTool.add(host);
      const out = text.indexOf(' | (stdout) ');
      if (out >= 0) add(host, Buffer.from(text.slice(out + ' | (stdout) '.length)));
      else if (!hashes.has(host)) hashes.set(host, new HostHash());
    }
  });
  let complete = 0;
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [host, want] of expected) {
    const got = hashes.get(host);
    if (!got) missing.push(host);
    else if (got.bytes === want.bytes && got.digest() === want.sha256 && !failedByTool.has(host)) complete++;
    else
      wrong.push(`${host}: ${got.bytes} of ${want.bytes} bytes${failedByTool.has(host) ? ', failed' : ''}`);
  }
  const problems: string[] = [];
  if (missing.length)
    problems.push(`${missing.length} hosts printed nothing (${missing.slice(0, 3).join(', ')})`);
  if (wrong.length)
    problems.push(`${wrong.length} hosts' output not as sent (${wrong.slice(0, 2).join('; ')})`);
  return { complete, answered: hashes.size, extraBytes, problems };
}

/** Whether a run's stdout lists every host as a success: `[n] ... [SUCCESS] host` (parallel-scp). */
export function countPsshSuccess(file: string, hosts: Set<string>): number {
  const ok = new Set<string>();
  forEachLine(file, (line) => {
    const m = PSSH_HEADER.exec(line.toString('latin1', 0, 200));
    if (m && m[1] === 'SUCCESS' && hosts.has(m[2]!)) ok.add(m[2]!);
  });
  return ok.size;
}

/** `ansible -o` lines of hosts that succeeded (CHANGED or SUCCESS). */
export function countAnsibleSuccess(file: string, hosts: Set<string>): number {
  const ok = new Set<string>();
  forEachLine(file, (line) => {
    const [host, status] = line.toString('utf8').split(' | ');
    if (hosts.has(host!) && /^(CHANGED|SUCCESS)\b/.test(status ?? '')) ok.add(host!);
  });
  return ok.size;
}

export function expectedOf(text: Buffer): Expected {
  return { sha256: createHash('sha256').update(text).digest('hex'), bytes: text.length };
}
