import { InvalidRequestError } from '../api/errors.js';
import { isTerminal, type GenerationRequest } from '../api/schemas.js';
import type { Context } from '../context.js';
import { findJobByTaskId } from '../store/history.js';
import { recordEndState } from './follow.js';
import { runGenerate, type GenerateFlags } from './generate.js';
import { isUnfinished, requestFingerprint } from './same-request.js';
import { baseUrlInUse, createApiClient, findLast, resolveTaskIds, type GlobalOptions, type Settings } from './shared.js';

/**
 * What `extend last` continues: the newest job of the base URL in use, except when that job is
 * this very command interrupted — an extension not ended whose request is this one with its own
 * parent. Then `last` is that parent, so the same-request rule resumes the extension instead of
 * paying for an extension of it.
 */
async function lastToExtend(ctx: Context, request: GenerationRequest, baseUrl: string): Promise<string> {
  const newest = await findLast(ctx, baseUrl);
  const parent = newest.extend_from_task_id;
  if (parent && isUnfinished(newest, ctx.clock.now()) && newest.request_hash === (await requestFingerprint({ ...request, extend_from_task_id: parent }))) {
    return parent;
  }
  return newest.task_id;
}

/** A new paid job continuing or editing an earlier one (`extend_from_task_id`). */
export async function runExtend(ctx: Context, from: string, prompt: string | undefined, flags: GenerateFlags, globals: GlobalOptions): Promise<void> {
  await runGenerate(ctx, prompt, flags, globals, async (request: GenerationRequest, settings: Settings) => {
    const taskId =
      from === 'last'
        ? await lastToExtend(ctx, request, await baseUrlInUse(ctx, settings))
        : (await resolveTaskIds(ctx, [from], { single: true, baseUrl: () => baseUrlInUse(ctx, settings) }))[0]!;
    // A job that ended without a video has nothing to continue: refused before paying for a new one.
    const known = await findJobByTaskId(ctx.configDir, taskId);
    let end = { status: known?.status, error: known?.error };
    // The history has not seen the end of a job nobody waited for (--no-wait): the service has.
    if (!flags.dryRun && !(end.status && isTerminal(end.status))) {
      const { client } = await createApiClient(ctx, globals, settings);
      const task = await client.getTask(taskId, { signal: ctx.signal });
      await recordEndState(ctx, task);
      end = { status: task.status, error: task.error?.message };
    }
    if (end.status === 'failed' || end.status === 'cancelled') {
      throw new InvalidRequestError(`Task ${taskId} ${end.status === 'failed' ? 'failed' : 'was cancelled'}: there is no video to extend${end.error ? ` (${end.error})` : ''}.`, {
        hint: 'Extend a completed job (omni-video jobs --status completed lists them), or submit a new one with omni-video generate.',
      });
    }
    return taskId;
  });
}
