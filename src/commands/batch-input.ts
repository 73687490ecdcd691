import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import * as z from 'zod/mini';
import { MAX_IMAGES, MAX_VIDEOS, TASK_ID_PATTERN } from '../api/schemas.js';
import { canonical } from './same-request.js';

/** One line of a JSON Lines batch: a `generate` request, plus where to save it and a stable id. */
export const BatchLineSchema = z
  .strictObject({
    prompt: z.optional(
      z
        .string()
        .check(
          z.trim(),
          z.minLength(1, 'prompt is empty'),
          z.refine((text) => text !== '-', 'prompt "-" would read stdin; a batch line carries its prompt itself'),
        ),
    ),
    image_urls: z.optional(z.array(z.string()).check(z.maxLength(MAX_IMAGES, `at most ${MAX_IMAGES} images`))),
    video_urls: z.optional(z.array(z.string()).check(z.maxLength(MAX_VIDEOS, `at most ${MAX_VIDEOS} video`))),
    aspect_ratio: z.optional(z.string()),
    resolution: z.optional(z.literal('720p', 'resolution must be 720p')),
    extend_from_task_id: z.optional(z.string().check(z.regex(TASK_ID_PATTERN, 'extend_from_task_id is not a task id'))),
    output: z.optional(z.string().check(z.minLength(1))),
    id: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(200))),
  })
  .check(
    z.refine((line) => line.prompt !== undefined || Boolean(line.image_urls?.length) || Boolean(line.video_urls?.length), {
      message: 'nothing to generate from: give prompt, image_urls or video_urls',
    }),
  );
export type BatchLine = z.infer<typeof BatchLineSchema>;

export interface BatchJob {
  /** 1-based line number in the input. */
  line: number;
  /** What identifies the job across runs: `id` when given, else a hash of the line. */
  key: string;
  /** The `id` of the JSON output: the line's own, or the short hash. */
  id: string;
  request: BatchLine;
  /** Absolute path of the video. */
  output: string;
}

export interface LineProblem {
  line: number;
  message: string;
}

export interface ParsedBatch {
  format: 'jsonl' | 'text';
  jobs: BatchJob[];
  problems: LineProblem[];
}

export const STATE_FILE = '.omni-video-batch.jsonl';

const hash = (text: string) => createHash('sha256').update(text).digest('hex');

/** Lowercase a-z, 0-9 and dashes, at most `max` characters, cut at a word boundary when it can be. */
export function slugify(text: string, max = 40): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length <= max) return slug;
  const cut = slug.slice(0, max + 1);
  const boundary = cut.lastIndexOf('-');
  return (boundary >= max / 2 ? cut.slice(0, boundary) : slug.slice(0, max)).replace(/-+$/, '');
}

/** A line's `output` inside `outputDir`, or why it cannot be used. */
function explicitOutput(outputDir: string, output: string): { path: string } | { problem: string } {
  if (isAbsolute(output)) return { problem: `output '${output}' must be relative to the output directory` };
  const path = resolve(outputDir, output);
  const inside = relative(outputDir, path);
  if (!inside || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) return { problem: `output '${output}' escapes the output directory` };
  if (output.endsWith('/') || output.endsWith(sep)) return { problem: `output '${output}' names a directory, not a file` };
  if (inside === STATE_FILE) return { problem: `output '${output}' is the batch's own state file` };
  return { path };
}

/**
 * The first meaningful line decides: `{` means JSON Lines, anything else one prompt per line.
 * Returned with that line's number, for a later line that does not match it.
 */
function detectFormat(lines: string[]): { format: ParsedBatch['format']; decidedBy: number } {
  const index = lines.findIndex((line) => line.trim() && !line.trim().startsWith('#'));
  return { format: lines[index]?.trim().startsWith('{') ? 'jsonl' : 'text', decidedBy: index + 1 };
}

function firstIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid line';
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  const field = issue.path.join('.');
  // A message of ours names its field already ("prompt is empty"); zod's own ones do not.
  return field && !issue.message.startsWith(`${field} `) ? `${field}: ${issue.message}` : issue.message;
}

/**
 * Reads a batch: validates every line (a bad one becomes a problem, the rest stand), gives each
 * job a key that survives re-runs, and a file name `<NNN>-<slug>.mp4` (or the line's `output`)
 * that no other line of the file shares.
 */
export function parseBatch(text: string, outputDir: string): ParsedBatch {
  const lines = text.split(/\r?\n/);
  const { format, decidedBy } = detectFormat(lines);
  const width = Math.max(3, String(lines.length).length);
  const jobs: BatchJob[] = [];
  const problems: LineProblem[] = [];
  const keys = new Map<string, number>();
  const taken = new Map<string, number>();
  const claim = (path: string, line: number): string | undefined => {
    const name = path.toLowerCase();
    const owner = taken.get(name);
    if (owner !== undefined) return `output ${path} is already line ${owner}'s`;
    taken.set(name, line);
    return undefined;
  };

  const candidates: { line: number; request: BatchLine; content: string }[] = [];
  lines.forEach((raw, index) => {
    const line = index + 1;
    const textLine = raw.trim();
    if (!textLine || (format === 'text' && textLine.startsWith('#'))) return;
    if (format === 'text') {
      // A JSON line among prompts is a mistake, not a prompt worth paying for.
      if (textLine.startsWith('{')) {
        problems.push({ line, message: `starts with { as JSON does, but line ${decidedBy} made this a file of prompts, one per line: write every line as JSON, or reword the prompt` });
        return;
      }
      candidates.push({ line, request: { prompt: textLine }, content: `text:${textLine}` });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(textLine);
    } catch {
      problems.push({ line, message: `not valid JSON, but line ${decidedBy} made this a JSON Lines file, one JSON object per line` });
      return;
    }
    const parsed = BatchLineSchema.safeParse(value);
    if (!parsed.success) {
      problems.push({ line, message: firstIssue(parsed.error) });
      return;
    }
    candidates.push({ line, request: parsed.data, content: `json:${canonical(parsed.data)}` });
  });

  // Explicit outputs are claimed first, so a default name can never take one.
  const outputs = new Map<number, string>();
  for (const { line, request } of candidates) {
    if (request.output === undefined) continue;
    const target = explicitOutput(outputDir, request.output);
    const conflict = 'problem' in target ? target.problem : claim(target.path, line);
    if (conflict) problems.push({ line, message: conflict });
    else if ('path' in target) outputs.set(line, target.path);
  }
  for (const { line, request, content } of candidates) {
    if (request.output !== undefined && !outputs.has(line)) continue;
    let key = request.id === undefined ? hash(content) : `id:${request.id}`;
    const seen = keys.get(key) ?? 0;
    if (seen > 0 && request.id !== undefined) {
      problems.push({ line, message: `id '${request.id}' is used by an earlier line` });
      continue;
    }
    keys.set(key, seen + 1);
    // The same line twice asks for two clips: the n-th copy gets its own key.
    if (seen > 0) key = `${key}#${seen + 1}`;
    let output = outputs.get(line);
    if (output === undefined) {
      const slug = slugify(request.prompt ?? '') || 'clip';
      output = resolve(outputDir, `${String(line).padStart(width, '0')}-${slug}.mp4`);
      const conflict = claim(output, line);
      if (conflict) {
        problems.push({ line, message: conflict });
        continue;
      }
    }
    jobs.push({ line, key, id: request.id ?? key.replace(/^([0-9a-f]{16})[0-9a-f]*/, '$1'), request, output });
  }
  problems.sort((a, b) => a.line - b.line);
  return { format, jobs, problems };
}

export interface Shard {
  index: number;
  count: number;
}

/** `i/n` with 1 <= i <= n. */
export function parseShard(value: string): Shard | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!match) return undefined;
  const index = Number(match[1]);
  const count = Number(match[2]);
  return count >= 1 && index >= 1 && index <= count ? { index, count } : undefined;
}

/** Which shard a job belongs to: a hash of its key, so every machine splits a file the same way. */
export function inShard(key: string, shard: Shard): boolean {
  return Number.parseInt(hash(key).slice(0, 8), 16) % shard.count === shard.index - 1;
}
