// What a file transfer takes and gives back: options, progress reports and results.
import type { Duration } from '../process/duration.js';

export interface TransferProgress {
  /** The file being transferred (remote path for uploads, remote path for downloads). */
  path: string;
  /** Bytes of this file done, and its size. */
  bytes: number;
  totalBytes: number;
  /** For directories: bytes of all files done so far, and in all. */
  allBytes: number;
  allTotalBytes: number;
}

export interface TransferOptions {
  /**
   * Mode of the written file: a number (0o644) or 'preserve' (the source's mode). Default: an
   * existing destination keeps its mode (and, when allowed, its owner); a new one gets the source's
   * mode. Downloads never take the set-user-ID, set-group-ID or sticky bits from the server.
   */
  mode?: number | 'preserve';
  /** Create missing parent directories of the destination (default false; true for directories). */
  mkdirs?: boolean;
  /** Write to a temporary name and rename over the destination (default true). */
  atomic?: boolean;
  onProgress?: (progress: TransferProgress) => void;
  /** Give up (and remove the partial temporary file) after this long. */
  timeout?: Duration;
  signal?: AbortSignal;
  /**
   * Called with each file's written copy (its temporary name when atomic) and the file's two paths
   * before it replaces the destination: a check such as a checksum on the host. If it throws, the
   * copy is removed, the destination is left as it was, and the transfer fails with that error.
   */
  beforeReplace?: (written: string, file: TransferFile) => Promise<void>;
  /**
   * For a directory: called once with every file the transfer will copy (for a download, after the
   * remote tree was walked and its unsafe entries refused), before the first one is copied. A check
   * prepares here, e.g. one command on the host that computes every file's checksum.
   */
  beforeFiles?: (files: TransferFile[]) => Promise<void>;
}

/** One file of a transfer: its path on this machine and on the host. */
export interface TransferFile {
  local: string;
  remote: string;
  /** For a directory: the path below its root, with `/` separators ('' for a single file). */
  rel: string;
  size: number;
}

export interface TransferResult {
  files: number;
  bytes: number;
  durationMs: number;
  /** Entries of a directory download that were not copied, and why (special files, links to folders). */
  skipped?: SkippedEntry[];
}

/** A remote entry a download refused: a name unsafe as a path component, or a link out of the tree. */
export interface RejectedEntry {
  /** The entry's remote path, as the server named it. */
  path: string;
  reason: string;
}

/** An entry a directory download did not copy, for a reason that is not an error. */
export interface SkippedEntry {
  path: string;
  reason: string;
}
