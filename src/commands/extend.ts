import type { Context } from '../context.js';
import { runGenerate, type GenerateFlags } from './generate.js';
import { resolveTaskIds, type GlobalOptions } from './shared.js';

/** A new paid job continuing or editing an earlier one (`extend_from_task_id`). */
export async function runExtend(ctx: Context, from: string, prompt: string | undefined, flags: GenerateFlags, globals: GlobalOptions): Promise<void> {
  const [taskId] = await resolveTaskIds(ctx, [from], { single: true });
  await runGenerate(ctx, prompt, flags, globals, taskId);
}
