/** The body of a submission as the service takes it, with the messages it gives (api-reference.md §1). */
import * as z from 'zod/mini';
import { ASPECT_RATIOS, isHttpUrl, MAX_IMAGES, MAX_VIDEOS, MODEL, RESOLUTIONS } from '../api/schemas.js';

/** A data: URL of a video, its payload base64 and not empty. */
function isVideoDataUrl(s: string): boolean {
  const m = /^data:video\/[\w.+-]+;base64,/i.exec(s);
  if (!m) return false;
  const payload = s.slice(m[0].length);
  return payload.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(payload);
}

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
const stringList = z.custom<string[]>(isStringList, 'must be an array of strings');

/** Each field's type: the first checks the service makes. */
const fieldTypes = {
  model: z.literal(MODEL, {
    error: (issue) => (issue.input === undefined ? `required, use "${MODEL}"` : `unsupported model ${JSON.stringify(issue.input)}, use "${MODEL}"`),
  }),
  prompt: z.optional(z.string('must be a string')),
  image_urls: z.optional(stringList),
  video_urls: z.optional(stringList),
  // The service silently takes any other value as 16:9.
  aspect_ratio: z.catch(z.enum(ASPECT_RATIOS), '16:9'),
  resolution: z.optional(z.unknown()),
  extend_from_task_id: z.optional(z.unknown()),
};

/** Each field's rules, checked once there is something to generate from: counts before links. */
const fieldRules = {
  ...fieldTypes,
  image_urls: z.optional(
    z.pipe(
      stringList.check(z.maxLength(MAX_IMAGES, `at most ${MAX_IMAGES} images`)),
      z.array(z.string().check(z.refine(isHttpUrl, 'must be an http:// or https:// URL'))),
    ),
  ),
  video_urls: z.optional(
    z.pipe(
      stringList.check(z.maxLength(MAX_VIDEOS, `at most ${MAX_VIDEOS} video`)),
      z.array(z.string().check(z.refine((url) => isHttpUrl(url) || isVideoDataUrl(url), 'must be an http(s):// URL or a data:video/...;base64, URL'))),
    ),
  ),
  resolution: z.optional(
    z.enum(RESOLUTIONS, { error: (issue) => `${JSON.stringify(issue.input)} is not supported, only ${RESOLUTIONS.map((value) => JSON.stringify(value)).join(', ')}` }),
  ),
  extend_from_task_id: z.optional(z.string('must be a task id').check(z.minLength(1, 'must be a task id'))),
};

/** A submission the service takes, in the order it reports problems: types, then something to generate from, then the rules. */
const SubmissionSchema = z.pipe(
  z.object(fieldTypes).check(
    z.refine((body) => Boolean(body.prompt?.trim()) || Boolean(body.image_urls?.length) || Boolean(body.video_urls?.length), 'prompt, image_urls or video_urls: at least one is required'),
  ),
  z.object(fieldRules),
);
export type Submission = z.output<typeof SubmissionSchema>;

/** `image_urls[1]: must be …`: the field (and item) first, as the service words it. */
function describe(issue: z.core.$ZodIssue): string {
  const [field, ...items] = issue.path;
  if (field === undefined) return issue.message;
  return `${String(field)}${items.map((item) => `[${String(item)}]`).join('')}: ${issue.message}`;
}

/** The submission in the body, or its first problem; `taskExists` says whether extend_from_task_id names a task. */
export function parseSubmission(body: unknown, taskExists: (id: string) => boolean): { request: Submission } | { problem: string } {
  const parsed = SubmissionSchema.safeParse(body);
  if (!parsed.success) return { problem: parsed.error.issues[0] ? describe(parsed.error.issues[0]) : 'invalid request' };
  const parent = parsed.data.extend_from_task_id;
  if (parent !== undefined && !taskExists(parent)) return { problem: `extend_from_task_id: task not found: ${parent}` };
  return { request: parsed.data };
}
