import { resultLinks, type GenerationRequest, type Task } from '../api/schemas.js';
import { etaMs } from '../io/progress.js';
import { abbreviateDataUrl, formatDuration, formatTimestamp } from '../io/format.js';
import { stateOfStatus } from '../io/job-states.js';

/** The JSON document product.md promises for a job: snake_case, like the API. */
export function taskToJson(task: Task, files: string[] = []) {
  const { urls, expiresAt } = resultLinks(task);
  return {
    task_id: task.id,
    status: task.status,
    progress: task.progress,
    files,
    urls,
    expires_at: expiresAt,
    cost: task.cost ?? null,
    credits_cost: task.credits_cost ?? null,
    created: task.created ?? null,
    completed: task.completed ?? null,
    estimated_time: task.estimated_time ?? null,
    actual_time: task.actual_time ?? null,
    error: task.status === 'failed' || task.status === 'cancelled' || task.error ? { message: task.error?.message ?? task.status, ...task.error } : null,
  };
}
export type TaskJson = ReturnType<typeof taskToJson>;

/** One line for `status`: id, status, progress, elapsed, ETA, cost, link and expiry. */
export function statusLine(task: Task, nowMs: number): string {
  const parts = [task.id, stateOfStatus(task.status), `${Math.round(task.progress)}%`];
  const created = task.created ? task.created * 1000 : undefined;
  if (created !== undefined) {
    const end = task.completed ? task.completed * 1000 : nowMs;
    parts.push(`elapsed ${formatDuration(end - created)}`);
    if (task.status === 'pending' || task.status === 'processing') {
      const eta = etaMs(task, nowMs - created);
      if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
    }
  }
  if (task.cost != null) parts.push(`cost ${task.cost}${task.credits_cost != null ? ` (${task.credits_cost} credits)` : ''}`);
  const { urls, expiresAt } = resultLinks(task);
  if (urls[0]) parts.push(urls[0]);
  if (expiresAt !== null) parts.push(`${expiresAt * 1000 <= nowMs ? 'expired' : 'expires'} ${formatTimestamp(expiresAt)}`);
  if (task.error?.message) parts.push(`error: ${task.error.message}`);
  return parts.join('  ');
}

/**
 * A request body as --dry-run shows it: whole with --json (exactly what would be sent), else with
 * an inline video's data: URL cut to its start and size (7 MB of base64 helps no reader).
 */
export function dryRunBody(body: GenerationRequest, whole: boolean): GenerationRequest {
  if (whole || !body.video_urls) return body;
  return { ...body, video_urls: body.video_urls.map(abbreviateDataUrl) };
}
