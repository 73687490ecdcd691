import { InvalidRequestError } from '../api/errors.js';

/**
 * The words for a job's state, in one place: the spinner, `status`, `jobs` (its column and
 * `--status`), `gallery --status` and the README's table all use these. JSON keeps the API's
 * own `status` values (snake_case like the API); they are accepted as aliases below.
 */
export const JOB_STATES = ['queued', 'generating', 'completed', 'failed', 'cancelled', 'interrupted', 'uncertain', 'rejected'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** `gallery` shows the lines of a batch that were never submitted too: `not_run`, a word only it has. */
export const GALLERY_STATES = [...JOB_STATES, 'not_run'] as const;

/** The API's and the history's status words, each the state it is shown as. */
export const STATUS_ALIASES: Readonly<Record<string, JobState>> = { submitted: 'queued', pending: 'queued', processing: 'generating' };

/**
 * The word shown for a status from the API or the history; a status unknown to us is shown as it
 * is, but for control characters (as `?`): it comes from a service or a file, and reaches terminals.
 */
export function stateOfStatus(status: string): string {
  return STATUS_ALIASES[status] ?? status.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** What the job history knows of a job (a fold of its records). */
export interface HistoryJobState {
  status?: string | undefined;
  last_event: string;
}

/**
 * A job's state from the history: `uncertain` when its submission never reported back (only its
 * first record, written before the request, is there); `interrupted` when Ctrl-C or SIGTERM ended
 * the wait for it while it was queued or generating (it kept running on the service).
 */
export function stateOfJob(job: HistoryJobState): string {
  if (job.status === undefined) return 'uncertain';
  const state = stateOfStatus(job.status);
  if (job.last_event === 'interrupted' && (state === 'queued' || state === 'generating')) return 'interrupted';
  return state;
}

/**
 * A `--status` value as the state it names among `states` (JOB_STATES, or a list that holds them
 * and more, as GALLERY_STATES), its alias accepted; anything else is refused with the list.
 */
export function parseState<S extends string>(value: string, states: readonly S[], flag = '--status'): S {
  const word = value.trim().toLowerCase();
  const state = (states as readonly string[]).includes(word) ? (word as S) : (STATUS_ALIASES[word] as S | undefined);
  if (state === undefined) {
    throw new InvalidRequestError(`${flag} '${value}' is not a job state: use ${states.join(', ')}.`, {
      hint: `The API's words work too: ${Object.entries(STATUS_ALIASES)
        .map(([alias, meaning]) => `${alias} (${meaning})`)
        .join(', ')}.`,
    });
  }
  return state;
}

/** A `jobs --status` value as the state it names. */
export function parseJobState(value: string, flag = '--status'): JobState {
  return parseState(value, JOB_STATES, flag);
}
