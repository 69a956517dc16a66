// `--dry-run` on run, copy, pull and rolling: the library's dry run (fleet.plan(), $.rolling.plan)
// printed as text (render/plan-text.ts) or JSON, instead of the run. Exit 0 when every host would
// be reached with its host key accepted (as far as a dry run can tell: it does not log in), 2 when
// one would be unreachable or its key refused; Ctrl-C leaves the hosts not yet inspected unchecked.
import type { FleetPlan } from '../fleet/plan.js';
import { colorEnabled, palette } from '../render/palette.js';
import { planText } from '../render/plan-text.js';
import { EXIT } from './exit-codes.js';
import { onInterrupt } from './interrupt.js';
import type { OutputFlags } from './job.js';
import { eventLine } from './render/ndjson.js';
import { stdoutClosed } from './stdout-closed.js';

export async function printPlan(
  flags: OutputFlags,
  plan: (signal: AbortSignal) => Promise<FleetPlan>,
  cleanup: () => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const interrupt = onInterrupt(
    (reason) => stop.abort(reason),
    (line) => process.stderr.write(line + '\n'),
    'inspecting no more hosts',
  );
  let result: FleetPlan;
  try {
    result = await plan(stop.signal);
  } finally {
    interrupt.dispose();
    await cleanup();
  }
  const code = interrupt.interrupted ? EXIT.interrupted : result.ok ? EXIT.ok : EXIT.unreachable;
  if (!stdoutClosed()) {
    if (flags.json)
      process.stdout.write(JSON.stringify({ ...result.toJSON(), exitCode: code }, null, 2) + '\n');
    else if (flags.ndjson)
      process.stdout.write(eventLine('plan', { ...result.toJSON() }) + eventLine('exit', { code }));
    else {
      const colors = palette(flags.color !== false && colorEnabled(process.stdout), {
        raw: flags.raw === true,
      });
      process.stdout.write(planText(result, colors) + '\n');
    }
  }
  process.exitCode = stdoutClosed() ? EXIT.outputClosed : code;
}
