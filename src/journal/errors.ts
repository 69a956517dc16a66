// The journal's one error: the file cannot be used as it is, and the message says what to do.
import { UsageError } from '../process/errors.js';

/** The run journal cannot be used: the message says why and what to do (the file is left as it was). */
export class JournalError extends UsageError {}
