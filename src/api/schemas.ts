import * as z from 'zod';

export const MODEL = 'gemini-omni-flash-preview';
export const MAX_IMAGES = 16;
export const MAX_VIDEOS = 1;
export const ASPECT_RATIOS = ['16:9', '9:16'] as const;
export const RESOLUTIONS = ['720p'] as const;

/** An http:// or https:// URL: what the API fetches media from. */
export function isHttpUrl(value: string): boolean {
  return /^https?:\/\/\S+$/i.test(value);
}

/** A plain task id: letters, digits, `_` and `-` (so it is also a safe file name). */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/*
 * Each schema is built on first use (z.lazy): building them all costs a CLI run ~10 ms of
 * start-up, and a run uses one or two.
 */

/** The body of POST /videos/generations. */
export const GenerationRequestSchema = z.lazy(() => {
  const httpUrl = z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL' });
  const videoUrl = z.string().refine((value) => isHttpUrl(value) || /^data:video\/[\w.+-]+;base64,/.test(value), {
    message: 'must be an http(s):// URL or a data:video/...;base64, URL',
  });
  return z
    .object({
      model: z.literal(MODEL),
      prompt: z.string().min(1).optional(),
      image_urls: z.array(httpUrl).max(MAX_IMAGES, `at most ${MAX_IMAGES} images`).optional(),
      video_urls: z.array(videoUrl).max(MAX_VIDEOS, `at most ${MAX_VIDEOS} video`).optional(),
      aspect_ratio: z.enum(ASPECT_RATIOS),
      resolution: z.enum(RESOLUTIONS),
      extend_from_task_id: z.string().min(1).optional(),
    })
    .refine((body) => body.prompt !== undefined || (body.image_urls?.length ?? 0) > 0 || (body.video_urls?.length ?? 0) > 0, {
      message: 'a prompt, an image or a video is required',
    });
});
export type GenerationRequest = z.infer<typeof GenerationRequestSchema>;

export const SubmitResponseSchema = z.lazy(() =>
  z.object({
    code: z.number().optional(),
    data: z.array(z.object({ task_id: z.string().min(1), status: z.string().optional() })).min(1),
  }),
);
export type SubmitResponse = z.infer<typeof SubmitResponseSchema>;

export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export const TaskSchema = z.lazy(() => {
  /** Both shapes occur: a single string, or alternative links to the same file. */
  const urlList = z.union([z.string(), z.array(z.string())]).transform((value) => (typeof value === 'string' ? [value] : value));
  return z.object({
    id: z.string().min(1),
    // Statuses are kept open: a new one must not break waiting, only be treated as "not finished".
    status: z.string().min(1),
    progress: z.number().nullish().transform((value) => value ?? 0),
    created: z.number().nullish(),
    completed: z.number().nullish(),
    actual_time: z.number().nullish(),
    estimated_time: z.number().nullish(),
    cost: z.number().nullish(),
    credits_cost: z.number().nullish(),
    result: z
      .object({
        videos: z.array(z.object({ url: urlList, expires_at: z.number().nullish() })).default([]),
      })
      .nullish(),
    error: z.object({ message: z.string().optional() }).loose().nullish(),
  });
});
export type Task = z.infer<typeof TaskSchema>;

export const TaskResponseSchema = z.lazy(() => z.object({ code: z.number().optional(), data: TaskSchema }));

export const BalanceSchema = z.lazy(() =>
  z.object({
    success: z.boolean().optional(),
    remain_balance: z.number(),
    used_balance: z.number(),
    unlimited_quota: z.boolean().default(false),
  }),
);
export type Balance = z.infer<typeof BalanceSchema>;

export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** Every link of the first video, and its expiry (Unix seconds). */
export function resultLinks(task: Task): { urls: string[]; expiresAt: number | null } {
  const first = task.result?.videos[0];
  return { urls: task.result?.videos.flatMap((video) => video.url) ?? [], expiresAt: first?.expires_at ?? null };
}
