import { InvalidRequestError } from '../api/errors.js';
import type { Context } from '../context.js';
import { findJobByTaskId } from '../store/history.js';
import { runGenerate, type GenerateFlags } from './generate.js';
import { baseUrlInUse, loadSettings, resolveTaskIds, type GlobalOptions } from './shared.js';

/** A new paid job continuing or editing an earlier one (`extend_from_task_id`). */
export async function runExtend(ctx: Context, from: string, prompt: string | undefined, flags: GenerateFlags, globals: GlobalOptions): Promise<void> {
  const settings = await loadSettings(ctx, globals);
  const [taskId] = await resolveTaskIds(ctx, [from], { single: true, baseUrl: () => baseUrlInUse(ctx, settings) });
  // A job that ended without a video has nothing to continue: refused before paying for a new one.
  const known = await findJobByTaskId(ctx.configDir, taskId!);
  if (known?.status === 'failed' || known?.status === 'cancelled') {
    throw new InvalidRequestError(`Task ${taskId} ${known.status === 'failed' ? 'failed' : 'was cancelled'}: there is no video to extend${known.error ? ` (${known.error})` : ''}.`, {
      hint: 'Extend a completed job (omni-video jobs --status completed lists them), or submit a new one with omni-video generate.',
    });
  }
  await runGenerate(ctx, prompt, flags, globals, taskId);
}
