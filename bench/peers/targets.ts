// The performance issue's targets, as bench/peers.ts checks them: each scenario names the fleetsh
// row the target is about, the library's row beside it, and the peers whose best it is measured
// against (fleetsh / best peer with a correct run; below 1, fleetsh is faster). The client CPU target
// is per host, not a ratio; the 1 MiB output target also asks for output printed once and a peak RSS
// no larger than clush's. Adaptive concurrency's target (>= 90% of the best fixed fan-out's
// throughput) is measured by its own bench, not here.
import { failureOf, printedTwice, statsOf, type Scenario } from './report.js';

export function scenarios(agent: boolean, commands: number): Scenario[] {
  const noAgent = 'this build has no `fleetsh agent`';
  return [
    {
      name: 'cold (wall), curve25519 on all',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'cold-peer',
      metric: 'wall',
      target: 0.75,
    },
    {
      name: 'cold, peers with their default kex',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'kex-peer',
      metric: 'wall',
      target: 0.25,
    },
    {
      name: 'cold against Ansible',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'ansible',
      metric: 'wall',
      target: 0.2,
    },
    {
      name: 'cold, client CPU',
      fleet: 'cold/cli',
      lib: 'cold/lib',
      peers: 'cold-peer',
      metric: 'cpu',
      ownName: '≤ 3 ms a host',
      own: (r) => {
        const ms = (statsOf(r).cpu * 1000) / r.hosts;
        return { text: `≤ 3 ms a host (${ms.toFixed(1)} ms)`, met: ms <= 3 };
      },
    },
    {
      name: `warm: ${commands} fan-outs, peers on ControlMaster`,
      fleet: agent ? 'warm/agent' : undefined,
      absent: agent ? undefined : noAgent, // with an agent, an absent row was not selected
      lib: 'warm/lib',
      peers: 'cm-peer',
      metric: 'wall',
      target: 0.15,
    },
    {
      name: `warm: ${commands} fan-outs, the agent on persistent shells`,
      fleet: agent ? 'warm/agent-shell' : undefined,
      absent: agent ? undefined : noAgent,
      lib: 'warm/lib',
      peers: 'cm-peer',
      metric: 'wall',
      target: 0.15,
    },
    {
      name: '1 MiB of stdout a host',
      fleet: 'loud/cli',
      lib: 'loud/lib',
      peers: 'loud-peer',
      metric: 'wall',
      target: 0.6,
      more: (fleet, all) => {
        const clush = all.find((r) => r.id === 'loud/clush');
        const mine = statsOf(fleet);
        const out = [{ text: 'output printed once', met: !printedTwice(mine) }];
        if (clush && !failureOf(clush)) {
          const theirs = statsOf(clush).treeRss;
          out.push({
            text: `peak RSS ≤ clush's (${mine.treeRss.toFixed(0)} vs ${theirs.toFixed(0)} MiB)`,
            met: mine.treeRss <= theirs,
          });
        }
        return out;
      },
    },
    {
      name: '1 MiB file to every host, cold',
      fleet: 'copy/cli',
      lib: 'copy/lib',
      peers: 'copy-peer',
      metric: 'wall',
      target: 0.85,
    },
    {
      name: '1 MiB file to every host, through the agent',
      fleet: agent ? 'copy/agent' : undefined,
      absent: agent ? undefined : noAgent, // with an agent, an absent row was not selected
      peers: 'copy-peer',
      metric: 'wall',
      target: 0.3,
    },
  ];
}
