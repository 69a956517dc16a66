// A dry run of a rolling deployment (`$.rolling.plan(options)`): every host of its phases once, as
// fleet.plan() inspects them, and the batches the deployment would run, in order.
import { foldHosts } from './hostset.js';
import { resolveOptions } from './options.js';
import { planHosts, type FleetPlan, type PlanOptions } from './plan.js';
import type { PlanBatch } from './plan-data.js';
import { batchSizes, type RollingOptions } from './rolling.js';
import { resolveTargets, type FleetHost } from './target.js';

export function planRolling(options: RollingOptions, plan: PlanOptions = {}): Promise<FleetPlan> {
  const { phases, batches, healthCheck, healthCheckAfter, pause, ...fleetOptions } = options;
  (void healthCheck, healthCheckAfter, pause); // they change nothing a dry run shows
  const resolved = resolveOptions(fleetOptions);
  const hosts: FleetHost[] = [];
  const seen = new Set<string>();
  const planned: PlanBatch[] = [];
  for (const phase of phases) {
    const list = resolveTargets(phase.targets, options.expand, options.inventory);
    let offset = 0;
    for (const [i, size] of batchSizes(list.length, phase.batches ?? batches).entries()) {
      const batch = list.slice(offset, offset + size);
      offset += size;
      planned.push({
        phase: phase.name,
        number: i + 1,
        hosts: foldHosts(batch.map((h) => h.name)),
        count: size,
      });
    }
    for (const h of list) {
      if (seen.has(h.name)) continue; // a host in two phases is inspected once
      seen.add(h.name);
      hosts.push({ ...h, index: hosts.length });
    }
  }
  return planHosts(hosts, resolved, plan, planned);
}
