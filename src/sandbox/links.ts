/**
 * Result links: signed (HMAC of the file name and expiry) and expiring, like a CDN's presigned
 * URLs. The API hands them out; the file server accepts only links it signed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SandboxState } from './state.js';
import type { SandboxTask } from './tasks.js';

export const sec = (ms: number): number => Math.floor(ms / 1000);

function sign(state: SandboxState, taskId: string, expires: number): string {
  return createHmac('sha256', state.linkSecret).update(`${taskId}.mp4\n${expires}`).digest('hex');
}

/** The link reported for a completed task; expires_at = completion + --link-ttl (or past, with expireLinks). */
export function resultLink(state: SandboxState, task: SandboxTask, now: number): { url: string; expires: number } {
  const completedSec = sec(task.createdMs + task.durationMs);
  const expires = state.faults.expireLinks ? sec(now) - 3600 : completedSec + state.settings.linkTtlSeconds;
  const url = `${state.fileBaseUrl}/files/${task.id}.mp4?expires=${expires}&sig=${sign(state, task.id, expires)}`;
  return { url, expires };
}

/** The task a file request's link names, with the expiry it carries; undefined unless the signature holds. */
export function checkLink(state: SandboxState, url: URL): { task: SandboxTask; expires: number } | undefined {
  const name = /^\/files\/([^/]+)\.mp4$/.exec(url.pathname);
  const task = name ? state.tasks.get(decodeURIComponent(name[1]!)) : undefined;
  const expiresText = url.searchParams.get('expires') ?? '';
  const sig = url.searchParams.get('sig') ?? '';
  if (!task || !/^-?\d+$/.test(expiresText) || !/^[0-9a-f]{64}$/.test(sig)) return undefined;
  const expires = Number(expiresText);
  const good = timingSafeEqual(Buffer.from(sig, 'hex'), Buffer.from(sign(state, task.id, expires), 'hex'));
  return good ? { task, expires } : undefined;
}
