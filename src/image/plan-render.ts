/** The build plan for people (--dry-run) and for scripts (--dry-run --json). */
import type { BuildPlan, LayerName, LayerPlan } from './plan.ts';

/** The plan without the applier's internals: what --dry-run --json prints. */
export function buildPlanJson(plan: BuildPlan): {
  facts: BuildPlan['facts'];
  layers: LayerPlan[];
  rebuild: LayerName[];
} {
  return {
    facts: plan.facts,
    layers: plan.layers,
    rebuild: plan.layers.filter((l) => !l.cached).map((l) => l.name),
  };
}

/** Human rendering for --dry-run: one block per layer, what it is made of, and why it is (not) rebuilt. */
export function renderBuildPlan(plan: BuildPlan): string {
  const f = plan.facts;
  const out = [
    `build plan: profile ${f.profile}, ${f.suite} ${f.release} from ${f.mirror}`,
    `kernel ${f.kabi}, zfs ${f.zfsVersion}; cache ${f.cache}`,
  ];
  plan.layers.forEach((l, i) => {
    const state = l.cached ? 'cached' : l.name === 'index' ? 'fetch' : 'build';
    out.push(`[${i + 1}/${plan.layers.length}] ${l.name.padEnd(12)} ${state.padEnd(6)} ${l.title}`);
    if (l.path) out.push(`    at: ${l.path}`);
    else if (l.key) out.push(`    key: ${l.key}`);
    for (const [k, v] of Object.entries(l.inputs)) out.push(`    ${k}: ${v}`);
    out.push(`    why: ${l.why}`);
  });
  const rebuild = plan.layers.filter((l) => !l.cached).map((l) => l.name);
  out.push(`to do: ${rebuild.join(', ')}`);
  return out.join('\n');
}
