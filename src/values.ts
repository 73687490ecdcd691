import * as z from 'zod/mini';
import type { ASPECT_RATIOS } from './api/schemas.js';

/**
 * What a user types for a duration or an aspect ratio, read the same way from a flag (--timeout,
 * -a) and from the config store (config set timeout, config set aspect-ratio).
 */

export type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** The words -a and `config set aspect-ratio` take (the ratios, then their names, as completion offers them), and the ratio each stands for. */
export const ASPECT_RATIO_WORDS: Readonly<Record<string, AspectRatio>> = { '16:9': '16:9', '9:16': '9:16', landscape: '16:9', portrait: '9:16' };

export function parseAspectRatio(text: string): AspectRatio | undefined {
  const word = text.trim().toLowerCase();
  return Object.hasOwn(ASPECT_RATIO_WORDS, word) ? ASPECT_RATIO_WORDS[word] : undefined;
}

export const MIN_TIMEOUT_SECONDS = 1;
/** The floor of a fixed polling interval: no faster than the service changes. */
export const MIN_POLL_INTERVAL_SECONDS = 0.5;

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600 };

/** Seconds from `90`, `90s`, `1.5m`, `5m` or `1h`; undefined for anything else. */
export function parseSeconds(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([smh]?)$/i.exec(text.trim());
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]!.toLowerCase()]! : undefined;
}

/** The forms parseSeconds takes, as messages name them. */
export function secondsForms(min: number): string {
  return `a number of seconds (at least ${min}), or a duration such as 90s, 5m or 1h`;
}

/** A number of seconds, at least `min`, from what parseSeconds reads (or a number, as JSON stores it). */
export function secondsSchema(min: number, message: string) {
  return z.pipe(
    z.union([z.number(), z.string()], { error: message }),
    z.transform((value: number | string, payload) => {
      const seconds = typeof value === 'number' ? value : parseSeconds(value);
      if (seconds !== undefined && seconds >= min) return seconds;
      payload.issues.push({ code: 'custom', message, input: value });
      return z.NEVER;
    }),
  );
}

/** 16:9 or 9:16, from the words of ASPECT_RATIO_WORDS; anything else refused with `message` (given the value), and `hint`. */
export function aspectRatioSchema(message: string | ((value: string) => string), hint?: string) {
  const refusal = (value: unknown) => (typeof message === 'string' ? message : message(String(value)));
  return z.pipe(
    z.string({ error: (issue) => refusal(issue.input) }),
    z.transform((value: string, payload) => {
      const ratio = parseAspectRatio(value);
      if (ratio) return ratio;
      payload.issues.push({ code: 'custom', message: refusal(value), input: value, params: { hint } });
      return z.NEVER;
    }),
  );
}
