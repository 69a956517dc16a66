// The parts of ssh2 the client side uses, loaded from ssh2's own files rather than its index: the
// index also loads its HTTP agents (and with them node's http, https and tls) and its server, which
// cost a fleetsh start-up about 20 ms and are never used to run commands. The demo fleet, which does
// need the server, imports 'ssh2' itself.
import type ssh2 from 'ssh2';
import ClientClass from 'ssh2/lib/client.js';
import agents from 'ssh2/lib/agent.js';
import keyParser from 'ssh2/lib/protocol/keyParser.js';
import sftp from 'ssh2/lib/protocol/SFTP.js';

export const Client: typeof ssh2.Client = ClientClass;
export const OpenSSHAgent: typeof ssh2.OpenSSHAgent = agents.OpenSSHAgent;
export const parseKey: typeof ssh2.utils.parseKey = keyParser.parseKey;
/** The SFTP client, which client.js loads anyway: sftp-stdio.ts runs it over a process's pipes. */
export const SFTP = sftp.SFTP;
