// A minimal SFTP server for demo hosts, confined to the host's folder: relative paths start there,
// absolute paths must stay inside it. Enough for uploads, downloads, stat, rename, mkdir and listings.
import { promises as fs, type Stats } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes, FileEntry, SFTPWrapper } from 'ssh2';

const { STATUS_CODE, flagsToString } = ssh2.utils.sftp;

type Handle = { kind: 'file'; file: fs.FileHandle } | { kind: 'dir'; path: string; done: boolean };

class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function toAttrs(st: Stats): Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

function statusOf(err: unknown): [number, string] {
  if (err instanceof SftpError) return [err.code, err.message];
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return [STATUS_CODE.NO_SUCH_FILE, 'No such file'];
  if (code === 'EACCES' || code === 'EPERM') return [STATUS_CODE.PERMISSION_DENIED, 'Permission denied'];
  return [STATUS_CODE.FAILURE, code ?? 'Failure'];
}

export function serveSftp(sftp: SFTPWrapper, home: string): void {
  const handles = new Map<number, Handle>();
  let nextHandle = 1;

  const pathOf = (p: string): string => {
    const full = resolve(home, p || '.');
    const rel = relative(home, full);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new SftpError(STATUS_CODE.PERMISSION_DENIED, `outside the demo host's folder: ${p}`);
    }
    return full;
  };
  const newHandle = (h: Handle): Buffer => {
    const id = nextHandle++;
    handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id);
    return buf;
  };
  const handleOf = (buf: Buffer): [number, Handle] => {
    const id = buf.length === 4 ? buf.readUInt32BE(0) : -1;
    const h = handles.get(id);
    if (!h) throw new SftpError(STATUS_CODE.FAILURE, 'invalid handle');
    return [id, h];
  };
  const fileOf = (buf: Buffer): fs.FileHandle => {
    const [, h] = handleOf(buf);
    if (h.kind !== 'file') throw new SftpError(STATUS_CODE.FAILURE, 'not a file handle');
    return h.file;
  };
  /** Runs a request, answering with its status (OK unless it answered itself) or its error. */
  const serve = (reqId: number, work: () => Promise<boolean | void>): void => {
    work().then(
      (answered) => {
        if (!answered) sftp.status(reqId, STATUS_CODE.OK);
      },
      (err: unknown) => {
        const [code, message] = statusOf(err);
        sftp.status(reqId, code, message);
      },
    );
  };

  sftp.on('error', () => {});
  sftp.on('close', () => {
    for (const h of handles.values()) if (h.kind === 'file') void h.file.close().catch(() => {});
    handles.clear();
  });

  sftp.on('REALPATH', (reqId, p) =>
    serve(reqId, async () => {
      const full = pathOf(p);
      sftp.name(reqId, [{ filename: full, longname: full, attrs: {} as Attributes }]);
      return true;
    }),
  );
  sftp.on('OPEN', (reqId, filename, flags, attrs) =>
    serve(reqId, async () => {
      const mode = flagsToString(flags);
      if (!mode) throw new SftpError(STATUS_CODE.OP_UNSUPPORTED, 'unsupported open flags');
      const file = await fs.open(pathOf(filename), mode, attrs?.mode ?? 0o644);
      sftp.handle(reqId, newHandle({ kind: 'file', file }));
      return true;
    }),
  );
  sftp.on('READ', (reqId, handle, offset, len) =>
    serve(reqId, async () => {
      const buf = Buffer.alloc(Math.min(len, 256 * 1024));
      const { bytesRead } = await fileOf(handle).read(buf, 0, buf.length, offset);
      if (bytesRead === 0) throw new SftpError(STATUS_CODE.EOF, 'EOF');
      sftp.data(reqId, buf.subarray(0, bytesRead));
      return true;
    }),
  );
  sftp.on('WRITE', (reqId, handle, offset, data) =>
    serve(reqId, async () => {
      await fileOf(handle).write(data, 0, data.length, offset);
    }),
  );
  sftp.on('FSTAT', (reqId, handle) =>
    serve(reqId, async () => {
      sftp.attrs(reqId, toAttrs(await fileOf(handle).stat()));
      return true;
    }),
  );
  sftp.on('FSETSTAT', (reqId, handle, attrs) =>
    serve(reqId, async () => {
      if (attrs.mode !== undefined) await fileOf(handle).chmod(attrs.mode & 0o7777);
    }),
  );
  sftp.on('SETSTAT', (reqId, p, attrs) =>
    serve(reqId, async () => {
      if (attrs.mode !== undefined) await fs.chmod(pathOf(p), attrs.mode & 0o7777);
    }),
  );
  sftp.on('CLOSE', (reqId, handle) =>
    serve(reqId, async () => {
      const [id, h] = handleOf(handle);
      handles.delete(id);
      if (h.kind === 'file') await h.file.close();
    }),
  );
  for (const ev of ['STAT', 'LSTAT'] as const) {
    sftp.on(ev, (reqId: number, p: string) =>
      serve(reqId, async () => {
        const full = pathOf(p);
        sftp.attrs(reqId, toAttrs(ev === 'STAT' ? await fs.stat(full) : await fs.lstat(full)));
        return true;
      }),
    );
  }
  sftp.on('RENAME', (reqId, from, to) => serve(reqId, () => fs.rename(pathOf(from), pathOf(to))));
  sftp.on('MKDIR', (reqId, p, attrs) => serve(reqId, () => fs.mkdir(pathOf(p), attrs?.mode ?? 0o755)));
  sftp.on('RMDIR', (reqId, p) => serve(reqId, () => fs.rmdir(pathOf(p))));
  sftp.on('REMOVE', (reqId, p) => serve(reqId, () => fs.unlink(pathOf(p))));
  sftp.on('OPENDIR', (reqId, p) =>
    serve(reqId, async () => {
      const full = pathOf(p);
      if (!(await fs.stat(full)).isDirectory()) throw new SftpError(STATUS_CODE.FAILURE, 'not a directory');
      sftp.handle(reqId, newHandle({ kind: 'dir', path: full, done: false }));
      return true;
    }),
  );
  sftp.on('READDIR', (reqId, handle) =>
    serve(reqId, async () => {
      const [, h] = handleOf(handle);
      if (h.kind !== 'dir') throw new SftpError(STATUS_CODE.FAILURE, 'not a directory handle');
      if (h.done) throw new SftpError(STATUS_CODE.EOF, 'EOF');
      h.done = true;
      const entries: FileEntry[] = [];
      for (const filename of await fs.readdir(h.path)) {
        const st = await fs.lstat(resolve(h.path, filename)).catch(() => undefined);
        if (st) entries.push({ filename, longname: filename, attrs: toAttrs(st) });
      }
      if (entries.length === 0) throw new SftpError(STATUS_CODE.EOF, 'EOF');
      sftp.name(reqId, entries);
      return true;
    }),
  );
}
