// ssh2 ships no types for its individual files; these say what src/ssh/ssh2-client.ts takes from them.
declare module 'ssh2/lib/client.js' {
  import type ssh2 from 'ssh2';
  const Client: typeof ssh2.Client;
  export default Client;
}
declare module 'ssh2/lib/agent.js' {
  import type ssh2 from 'ssh2';
  const agents: { OpenSSHAgent: typeof ssh2.OpenSSHAgent };
  export default agents;
}
declare module 'ssh2/lib/protocol/keyParser.js' {
  import type ssh2 from 'ssh2';
  const keyParser: { parseKey: typeof ssh2.utils.parseKey };
  export default keyParser;
}
declare module 'ssh2/lib/protocol/SFTP.js' {
  import type { EventEmitter } from 'node:events';
  /** ssh2's SFTP client: a channel stand-in (sftp-stdio.ts gives it the channel's parts it uses). */
  const sftp: { SFTP: new (client: unknown, chanInfo: unknown, cfg?: object) => EventEmitter };
  export default sftp;
}
