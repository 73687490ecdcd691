import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';

// zod/mini sets no locale: without one every message reads "Invalid input". English, unless the
// program chose another (as zod's classic build does on its first schema).
if (!z.config().localeError) z.config(en());

export const MODEL = 'gemini-omni-flash-preview';
export const MAX_IMAGES = 16;
export const MAX_VIDEOS = 1;
export const ASPECT_RATIOS = ['16:9', '9:16'] as const;
export const RESOLUTIONS = ['720p'] as const;

/** An http:// or https:// URL with a host and no white space: what the API fetches media from. */
export function isHttpUrl(value: string): boolean {
  if (!/^https?:\/\/\S+$/i.test(value)) return false;
  try {
    return new URL(value).hostname !== '';
  } catch {
    return false;
  }
}

/** A plain task id: letters, digits, `_` and `-` (so it is also a safe file name). */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/*
 * Each schema is built on first use (z.lazy): building them all costs a CLI run ~10 ms of
 * start-up, and a run uses one or two.
 */

/** The body of POST /videos/generations. */
export function buildGenerationRequestSchema() {
  const httpUrl = z.string().check(z.refine(isHttpUrl, { message: 'must be an http:// or https:// URL' }));
  const videoUrl = z.string().check(
    z.refine((value) => isHttpUrl(value) || /^data:video\/[\w.+-]+;base64,/.test(value), {
      message: 'must be an http(s):// URL or a data:video/...;base64, URL',
    }),
  );
  return z
    .object({
      model: z.literal(MODEL),
      prompt: z.optional(z.string().check(z.minLength(1))),
      image_urls: z.optional(z.array(httpUrl).check(z.maxLength(MAX_IMAGES, `at most ${MAX_IMAGES} images`))),
      video_urls: z.optional(z.array(videoUrl).check(z.maxLength(MAX_VIDEOS, `at most ${MAX_VIDEOS} video`))),
      aspect_ratio: z.enum(ASPECT_RATIOS),
      resolution: z.enum(RESOLUTIONS),
      extend_from_task_id: z.optional(z.string().check(z.minLength(1))),
    })
    .check(
      z.refine((body) => body.prompt !== undefined || (body.image_urls?.length ?? 0) > 0 || (body.video_urls?.length ?? 0) > 0, {
        message: 'a prompt, an image or a video is required',
      }),
    );
}
export const GenerationRequestSchema = z.lazy(buildGenerationRequestSchema);
export type GenerationRequest = z.infer<typeof GenerationRequestSchema>;

export const SubmitResponseSchema = z.lazy(() =>
  z.object({
    code: z.optional(z.number()),
    data: z.array(z.object({ task_id: z.string().check(z.minLength(1)), status: z.optional(z.string()) })).check(z.minLength(1)),
  }),
);

const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function buildTaskSchema() {
  /** Both shapes occur: a single string, or alternative links to the same file. */
  const urlList = z.pipe(
    z.union([z.string(), z.array(z.string())]),
    z.transform((value: string | string[]) => (typeof value === 'string' ? [value] : value)),
  );
  const count = z.nullish(z.number());
  return z.object({
    id: z.string().check(z.minLength(1)),
    // Statuses are kept open: a new one must not break waiting, only be treated as "not finished".
    status: z.string().check(z.minLength(1)),
    progress: z.pipe(
      count,
      z.transform((value: number | null | undefined) => value ?? 0),
    ),
    created: count,
    completed: count,
    actual_time: count,
    estimated_time: count,
    cost: count,
    credits_cost: count,
    result: z.nullish(
      z.object({
        videos: z._default(z.array(z.object({ url: urlList, expires_at: count })), []),
      }),
    ),
    error: z.nullish(z.looseObject({ message: z.optional(z.string()) })),
  });
}
export const TaskSchema = z.lazy(buildTaskSchema);
export type Task = z.infer<typeof TaskSchema>;

export const TaskResponseSchema = z.lazy(() => z.object({ code: z.optional(z.number()), data: TaskSchema }));

export function buildBalanceSchema() {
  return z.object({
    success: z.optional(z.boolean()),
    remain_balance: z.number(),
    used_balance: z.number(),
    unlimited_quota: z._default(z.boolean(), false),
  });
}
export const BalanceSchema = z.lazy(buildBalanceSchema);
export type Balance = z.infer<typeof BalanceSchema>;

export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** Every link of the first video, and its expiry (Unix seconds). */
export function resultLinks(task: Task): { urls: string[]; expiresAt: number | null } {
  const first = task.result?.videos[0];
  return { urls: task.result?.videos.flatMap((video) => video.url) ?? [], expiresAt: first?.expires_at ?? null };
}
