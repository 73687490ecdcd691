/**
 * The task life cycle. A task's status is computed from its timestamps on every poll, never driven
 * by timers: pending for queueMs, then processing with rising progress, then its outcome at
 * durationMs. So a sandbox holds no timers that outlive a request.
 */
import { randomBytes } from 'node:crypto';
import { MODEL } from '../api/schemas.js';
import { resultLink, sec } from './links.js';
import { DEFAULT_FAIL_MESSAGE } from './options.js';
import type { SandboxState } from './state.js';
import type { Submission } from './validate.js';

export type TaskOutcome = 'completed' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'processing' | TaskOutcome;

export interface SandboxTask {
  id: string;
  /** The submitted body, as the service took it. */
  request: Submission;
  aspectRatio: Submission['aspect_ratio'];
  /** The clock (Date.now unless `now` is given) at creation; tests may move it back to age a job. */
  createdMs: number;
  /** Time spent pending. */
  queueMs: number;
  /** Time from creation to the outcome. */
  durationMs: number;
  outcome: TaskOutcome;
  /** Set when outcome is 'failed'. */
  failMessage?: string;
  cost: number;
  creditsCost: number;
  /** estimated_time reported for this job, in seconds. */
  estimatedSeconds: number;
  extendFromTaskId?: string;
}

const LANGS = ['en', 'zh', 'ko', 'ja'] as const;
export type Lang = (typeof LANGS)[number];
export const NOT_FOUND: Record<Lang, string> = {
  en: 'task not found: ',
  zh: '任务不存在: ',
  ko: '작업을 찾을 수 없습니다: ',
  ja: 'タスクが見つかりません: ',
};
const DEFAULT_FAIL: Record<Lang, string> = {
  en: DEFAULT_FAIL_MESSAGE,
  zh: '内容违反使用政策',
  ko: '콘텐츠가 사용 정책을 위반합니다',
  ja: 'コンテンツが利用ポリシーに違反しています',
};

export function langOf(value: string | null): Lang {
  return (LANGS as readonly string[]).includes(value ?? '') ? (value as Lang) : 'en';
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `task_` + 26 Crockford base32 characters: 10 of time, 16 random (ULID-like). */
function newTaskId(nowMs: number): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  for (const b of randomBytes(16)) rand += CROCKFORD[b & 31]!;
  return `task_${time}${rand}`;
}

/** Money without float noise: 100 - 0.1 - 0.2 is 99.7. */
export const money = (n: number): number => Math.round(n * 1e6) / 1e6;

/** Creates, stores and charges the task of a valid submission; its outcome is decided at once. */
export function createTask(state: SandboxState, request: Submission, outcome: TaskOutcome): SandboxTask {
  const { settings, faults, balance } = state;
  const now = state.clock();
  const task: SandboxTask = {
    id: newTaskId(now),
    request,
    aspectRatio: request.aspect_ratio,
    createdMs: now,
    queueMs: settings.queueMs,
    durationMs: settings.durationMs,
    outcome,
    cost: settings.costPerJob,
    creditsCost: settings.creditsPerJob,
    estimatedSeconds: settings.estimatedSeconds,
  };
  if (outcome === 'failed') task.failMessage = faults.failMessage;
  if (request.extend_from_task_id !== undefined) task.extendFromTaskId = request.extend_from_task_id;
  state.tasks.set(task.id, task);
  state.stats.submissions++;
  state.stats.maxInFlight = Math.max(state.stats.maxInFlight, inFlight(state, now));
  if (!balance.unlimited) balance.remain = money(balance.remain - settings.costPerJob);
  balance.used = money(balance.used + settings.costPerJob);
  return task;
}

function inFlight(state: SandboxState, now: number): number {
  let n = 0;
  for (const t of state.tasks.values()) if (t.createdMs + t.durationMs > now) n++;
  return n;
}

export function statusAt(task: SandboxTask, now: number): { status: TaskStatus; progress: number } {
  const elapsed = now - task.createdMs;
  if (elapsed >= task.durationMs) {
    return { status: task.outcome, progress: task.outcome === 'completed' ? 100 : 99 };
  }
  if (elapsed < task.queueMs) return { status: 'pending', progress: 0 };
  const span = Math.max(1, task.durationMs - task.queueMs);
  const progress = Math.min(99, Math.max(0, Math.floor(((elapsed - task.queueMs) / span) * 100)));
  return { status: 'processing', progress };
}

/** The `data` of GET /tasks/:id, as api-reference.md shows it. */
export function taskView(state: SandboxState, task: SandboxTask, now: number, lang: Lang): Record<string, unknown> {
  const { status, progress } = statusAt(task, now);
  const created = sec(task.createdMs);
  const data: Record<string, unknown> = { id: task.id, status, progress, created };
  if (status === 'completed') {
    const completed = sec(task.createdMs + task.durationMs);
    data.completed = completed;
    data.actual_time = completed - created;
  }
  data.estimated_time = task.estimatedSeconds;
  if (!state.faults.omitCost) {
    data.cost = task.cost;
    data.credits_cost = task.creditsCost;
  }
  if (status === 'completed') {
    const { url, expires } = resultLink(state, task, now);
    data.result = { videos: [{ url: state.faults.urlAsString ? url : [url], expires_at: expires }] };
  }
  if (status === 'failed') {
    const message = task.failMessage === DEFAULT_FAIL.en ? DEFAULT_FAIL[lang] : (task.failMessage ?? 'failed');
    data.error = { message, code: 'generation_failed' };
  }
  // A field clients do not know about, as the service adds fields without notice.
  data.model = MODEL;
  return data;
}
