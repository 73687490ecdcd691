import { open, readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import * as z from 'zod/mini';
import { ConfigurationError, InvalidRequestError, SubmissionUncertainError, InterruptedBeforeSendingError, APIError, TaskNotFoundError } from '../api/errors.js';
import { isHttpUrl, MAX_IMAGES, MODEL, RESOLUTIONS, type GenerationRequest } from '../api/schemas.js';
import type { Context } from '../context.js';
import { formatAgainst, MIB } from '../io/format.js';
import { readMediaInfo, type MediaInfo } from '../io/media.js';
import { createReporter, type Reporter } from '../io/progress.js';
import { appendJobRecord, FIRST_EVENT, newJobId, requestFields } from '../store/history.js';
import type { Config } from '../store/config.js';
import type { OmniVideoClient } from '../api/client.js';
import { formatTimestamp } from '../io/format.js';
import { aspectRatioSchema } from '../values.js';
import { followTask } from './follow.js';
import { dryRunBody, taskToJson } from './render.js';
import { absoluteOutput, explicitFileTarget, refuseExistingFile } from './output-path.js';
import { formatAge, requestFingerprint, settledSameRequest, type SameRequest } from './same-request.js';
import { createApiClient, loadSettings, parseOptions, pollIntervalFlag, readStdinText, shellQuote, timeoutFlag, waitLimits, writeJson, type GlobalOptions, type Settings } from './shared.js';

export const VIDEO_TYPES: Record<string, string> = { '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm' };
/** Larger clips make a request the service may refuse; hosting them is the better path. */
export const MAX_LOCAL_VIDEO_BYTES = 20 * 1024 * 1024;
export const MIN_CLIP_SECONDS = 1;
export const MAX_CLIP_SECONDS = 24;
export const ADVISED_CLIP_SECONDS = 3;


/** What commander hands over for generate and extend, before any check. */
export const GenerateFlagsSchema = z.object({
  image: z._default(z.array(z.string()), []),
  video: z._default(z.array(z.string()), []),
  aspectRatio: z.optional(
    aspectRatioSchema(
      (value) => `Unsupported aspect ratio '${value}': use 16:9 (landscape) or 9:16 (portrait).`,
      'The service would silently turn anything else into 16:9, so omni-video refuses it.',
    ),
  ),
  resolution: z._default(z.enum(RESOLUTIONS, { error: (issue) => `Unsupported resolution '${String(issue.input)}': the API offers ${RESOLUTIONS.join(', ')} only.` }), '720p'),
  output: z.optional(z.string().check(z.minLength(1))),
  wait: z._default(z.boolean(), true),
  download: z._default(z.boolean(), true),
  timeout: z.optional(timeoutFlag),
  pollInterval: z.optional(pollIntervalFlag),
  dryRun: z._default(z.boolean(), false),
  force: z._default(z.boolean(), false),
  new: z._default(z.boolean(), false),
});
export type GenerateFlags = z.input<typeof GenerateFlagsSchema>;

function checkImage(value: string): string {
  if (isHttpUrl(value)) return value;
  throw new InvalidRequestError(`--image '${value}' is not an http(s) URL: the API fetches reference images from a public URL.`, {
    hint: 'Upload the image somewhere reachable (a bucket, an image host) and pass its https:// link.',
  });
}

/** A local clip becomes a data: URL after its length and size are checked from its header. */
async function videoReference(value: string, cwd: string, warn: (text: string) => void): Promise<string> {
  if (isHttpUrl(value)) return value;
  if (/^[a-z]+:\/\//i.test(value) || value.startsWith('data:')) {
    throw new InvalidRequestError(`--video '${value.slice(0, 60)}' must be an http(s) URL or a local .mp4, .mov or .webm file.`);
  }
  const path = resolve(cwd, value);
  const type = VIDEO_TYPES[extname(path).toLowerCase()];
  if (!type) throw new InvalidRequestError(`--video ${value}: only .mp4, .mov and .webm files can be sent.`);
  let size: number;
  try {
    const stats = await stat(path);
    if (!stats.isFile()) throw new Error('not a file');
    size = stats.size;
    await (await open(path, 'r')).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new InvalidRequestError(`--video ${value}: cannot read it (${why}).`, { hint: 'Check the path, or pass an https:// URL of the clip.' });
  }
  if (size > MAX_LOCAL_VIDEO_BYTES) {
    throw new InvalidRequestError(`--video ${value} is ${formatAgainst(size / MIB, MAX_LOCAL_VIDEO_BYTES / MIB)} MiB: over the ${MAX_LOCAL_VIDEO_BYTES / MIB} MiB that can be sent inline.`, {
      hint: 'Host the clip (a bucket or any public https link) and pass its URL with --video, or trim it to a few seconds.',
    });
  }
  let info: MediaInfo;
  try {
    info = await readMediaInfo(path);
  } catch (error) {
    throw new InvalidRequestError(`--video ${value}: not a readable video (${(error as Error).message}).`);
  }
  if (!info.hasVideoTrack) {
    throw new InvalidRequestError(`--video ${value} has no video track (sound only): there is no picture to edit.`, {
      hint: `A cut made with -c copy between two keyframes keeps only the sound; cut it again, re-encoding: ffmpeg -ss <start> -t 3 -i <source> clip${extname(path)}`,
    });
  }
  const duration = info.durationSeconds;
  if (duration !== null) {
    if (duration < MIN_CLIP_SECONDS) {
      throw new InvalidRequestError(`--video ${value} is ${formatAgainst(duration, MIN_CLIP_SECONDS)} s long: the API takes clips of ${MIN_CLIP_SECONDS}–${MAX_CLIP_SECONDS} s.`, {
        hint: `Pass a clip of at least ${MIN_CLIP_SECONDS} s.`,
      });
    }
    if (duration > MAX_CLIP_SECONDS) {
      throw new InvalidRequestError(`--video ${value} is ${formatAgainst(duration, MAX_CLIP_SECONDS)} s long: the API takes clips of ${MIN_CLIP_SECONDS}–${MAX_CLIP_SECONDS} s.`, {
        hint: `Cut ${ADVISED_CLIP_SECONDS} s out of it, e.g. ffmpeg -ss 0 -t ${ADVISED_CLIP_SECONDS} -i ${shellQuote(value)} short${extname(path)}`,
      });
    }
    if (duration > ADVISED_CLIP_SECONDS) warn(`--video ${value} is ${formatAgainst(duration, ADVISED_CLIP_SECONDS)} s long; the provider advises clips of ${ADVISED_CLIP_SECONDS} s or less.`);
  }
  return `data:${type};base64,${(await readFile(path)).toString('base64')}`;
}

export interface BuiltRequest {
  body: GenerationRequest;
  flags: z.output<typeof GenerateFlagsSchema>;
}

/** Checks everything that can be checked here, so bad input costs nothing and sends nothing. */
export async function buildGenerationRequest(
  ctx: Context,
  prompt: string | undefined,
  rawFlags: GenerateFlags,
  config: Config,
  warn: (text: string) => void,
  extendFrom?: string,
): Promise<BuiltRequest> {
  const flags = parseOptions(GenerateFlagsSchema, rawFlags);
  let text = prompt;
  if (text === '-') {
    const example = extendFrom === undefined ? 'echo "a red apple on a table" | omni-video generate -' : 'echo "now at night" | omni-video extend last -';
    text = (await readStdinText(ctx, 'a prompt', `Give the prompt as an argument, or pipe it in: ${example}`)).trim();
    if (!text) throw new InvalidRequestError('The prompt read from stdin is empty.');
  }
  if (text !== undefined && !text.trim()) text = undefined;
  if (flags.image.length > MAX_IMAGES) {
    throw new InvalidRequestError(`Too many images: ${flags.image.length} given, the API takes at most ${MAX_IMAGES}.`);
  }
  if (flags.video.length > 1) throw new InvalidRequestError(`Too many videos: ${flags.video.length} given, the API takes one.`);
  const images = flags.image.map(checkImage);
  if (text === undefined && images.length === 0 && flags.video.length === 0) {
    throw new InvalidRequestError('Nothing to generate from: give a prompt, --image or --video.', { hint: 'Example: omni-video generate "a red apple on a table"' });
  }
  const videos = await Promise.all(flags.video.map((video) => videoReference(video, ctx.cwd, warn)));
  const body: GenerationRequest = {
    model: MODEL,
    ...(text === undefined ? {} : { prompt: text }),
    ...(images.length ? { image_urls: images } : {}),
    ...(videos.length ? { video_urls: videos } : {}),
    aspect_ratio: flags.aspectRatio ?? config['aspect-ratio'] ?? '16:9',
    resolution: flags.resolution,
    ...(extendFrom ? { extend_from_task_id: extendFrom } : {}),
  };
  return { body, flags };
}

/**
 * Records the paid task id. The id was already shown; a history that cannot be written (a full
 * disk) must not cost it, so the failure is a warning that repeats the id.
 */
export async function recordSubmitted(ctx: Context, job: string, taskId: string, reporter: Reporter): Promise<void> {
  try {
    await appendJobRecord(ctx.configDir, { job, event: 'submitted', task_id: taskId, status: 'submitted' });
  } catch (error) {
    reporter.warn(`Task ${taskId} could not be written to the job history (${(error as Error).message}); keep this id.`);
  }
}

/**
 * What is true after a submission that got no answer: the API cannot list tasks, so the job,
 * if it was created, cannot be found by the tool.
 */
function uncertainTruth(submittedAtMs: number): { message: string; hint: string } {
  return {
    message: 'The job may have been created and charged, but its task id never came back, and the API has no way to list tasks, so omni-video cannot find it.',
    hint: `Check the provider's dashboard for a job submitted at ${formatTimestamp(submittedAtMs / 1000)}; to submit it again knowingly, run the same command with --new.`,
  };
}

/** Which task an extension continues, chosen once the rest of its request is known. */
export type ExtendFrom = (request: GenerationRequest, settings: Settings) => Promise<string>;

/** generate and extend: validate, record, submit once, then follow the job to a saved file. */
export async function runGenerate(ctx: Context, prompt: string | undefined, rawFlags: GenerateFlags, globals: GlobalOptions, extendFrom?: ExtendFrom): Promise<void> {
  const settings = await loadSettings(ctx, globals);
  const reporter: Reporter = await createReporter({ io: ctx.io, clock: ctx.clock, quiet: Boolean(globals.quiet) });
  const built = await buildGenerationRequest(ctx, prompt, rawFlags, settings.config, (text) => reporter.warn(text));
  const { flags } = built;
  const body: GenerationRequest = extendFrom ? { ...built.body, extend_from_task_id: await extendFrom(built.body, settings) } : built.body;
  if (flags.dryRun) {
    writeJson(ctx, dryRunBody(body, Boolean(globals.json)));
    return;
  }
  const target = await explicitFileTarget(ctx.cwd, flags.output);
  // Refused before paying: a job whose result cannot be saved is money thrown away (with --no-wait
  // too: the recorded -o is where a later `download <id>` saves it).
  if (target && flags.download) await refuseExistingFile(target, flags.force, 'nothing was submitted');

  const { client } = await createApiClient(ctx, globals, settings);
  const requestHash = await requestFingerprint(body);
  const output = flags.output === undefined ? undefined : absoluteOutput(ctx.cwd, flags.output);
  const follow = { reporter, flags, settings, globals };

  if (!flags.new) {
    const same = await settledSameRequest(ctx, requestHash, client.baseUrl, (text) => reporter.info(text));
    if (same?.kind === 'uncertain') {
      const truth = uncertainTruth(Date.parse(same.job.created_at));
      throw new InvalidRequestError(
        `The same request was sent ${formatAge(same.ageMs)} and got no answer: it may already be charged, and as the API has no way to list tasks, omni-video cannot find its id. Nothing was submitted.`,
        { hint: truth.hint },
      );
    }
    if (same?.kind === 'resume') return resumeJob(ctx, client, same, output, follow);
  }

  const job = newJobId();
  await appendJobRecord(ctx.configDir, {
    job,
    event: FIRST_EVENT,
    ...requestFields(body, client.baseUrl, requestHash),
    output,
    ...(output === undefined ? {} : { force: flags.force }),
  });
  reporter.update({ id: '', status: 'submitting', progress: 0 });
  const submittedAtMs = ctx.clock.now();
  let taskId: string;
  try {
    ({ taskId } = await client.submit(body, {
      signal: ctx.signal,
      onAbortInFlight: () =>
        reporter.warn('Waiting for the service to answer the submission in progress, so that its task id is kept (Ctrl-C again stops at once; the job may then be charged without its id).'),
    }));
  } catch (error) {
    reporter.stop();
    const truth = uncertainTruth(submittedAtMs);
    if (error instanceof SubmissionUncertainError) {
      await appendJobRecord(ctx.configDir, { job, event: 'uncertain', status: 'uncertain', error: error.message });
      throw new SubmissionUncertainError(`${error.message} ${truth.message}`, { hint: truth.hint, cause: error });
    }
    if (error instanceof InterruptedBeforeSendingError) {
      await appendJobRecord(ctx.configDir, { job, event: 'interrupted', status: 'interrupted', error: 'interrupted before it was sent' });
      throw error;
    }
    await appendJobRecord(ctx.configDir, {
      job,
      event: 'rejected',
      status: 'rejected',
      error: error instanceof APIError || error instanceof ConfigurationError ? error.message : String(error),
    });
    throw error;
  }
  reporter.info(`Submitted ${taskId}`);
  await recordSubmitted(ctx, job, taskId, reporter);
  await deliver(ctx, client, { taskId, jobId: job, submittedAtMs }, follow);
}

interface FollowChoices {
  reporter: Reporter;
  flags: z.output<typeof GenerateFlagsSchema>;
  settings: Settings;
  globals: GlobalOptions;
}

/** The same request is already paid for and not ended: wait for that job instead of paying again. */
async function resumeJob(ctx: Context, client: OmniVideoClient, same: SameRequest, output: string | undefined, follow: FollowChoices): Promise<void> {
  const { job } = same;
  const taskId = job.task_id as string;
  follow.reporter.info(`Resuming ${taskId} (the same request, submitted ${formatAge(same.ageMs)}; --new submits another)`);
  // Saved where this command asks; a later `download <id>` then uses it too.
  if (output !== undefined) await appendJobRecord(ctx.configDir, { job: job.job, task_id: taskId, event: 'resumed', output, force: follow.flags.force });
  try {
    await deliver(ctx, client, { taskId, jobId: job.job, submittedAtMs: Date.parse(job.created_at) }, follow);
  } catch (error) {
    // A service that forgot the job (a restarted sandbox, another key) cannot finish it.
    if (error instanceof TaskNotFoundError) error.hint = `The service does not know ${taskId}, the job being resumed; to submit the request again: the same command with --new.`;
    throw error;
  }
}

/** The task id alone with --no-wait; otherwise the job followed to its file (or link). */
async function deliver(ctx: Context, client: OmniVideoClient, job: { taskId: string; jobId: string; submittedAtMs: number }, follow: FollowChoices): Promise<void> {
  const { flags, globals, settings } = follow;
  if (!flags.wait) {
    if (globals.json) writeJson(ctx, taskToJson({ id: job.taskId, status: 'submitted', progress: 0 }));
    else ctx.io.stdout.write(`${job.taskId}\n`);
    return;
  }
  await followTask(ctx, client, follow.reporter, {
    ...job,
    wait: true,
    download: flags.download,
    output: flags.output,
    outputDir: settings.config['output-dir'],
    force: flags.force,
    ...waitLimits(flags, settings.config),
    print: globals.json ? 'json' : 'path',
    baseUrlFlag: globals.baseUrl,
  });
}
