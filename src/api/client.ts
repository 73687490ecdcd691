import { systemClock, type Clock } from './clock.js';
import {
  APIConnectionError,
  APIError,
  CertificateError,
  ConfigurationError,
  InterruptedBeforeSendingError,
  InterruptedError,
  InvalidRequestError,
  MalformedResponseError,
  ProxyRefusedError,
  RateLimitError,
  ServiceUnavailableError,
  SubmissionUncertainError,
} from './errors.js';
import { downloadToFile, type DownloadOptions, type DownloadResult } from './download.js';
import { createApiHttp, toConnectionError, type CallContext } from './http-client.js';
import { isLoopbackHost } from './proxy.js';
import { waitForTask, type WaitOptions } from './polling.js';
import { defaultRetryPolicy, parseRetryAfter, withRetry, type RetryDecision, type RetryEvent, type RetryPolicy } from './retry.js';
import {
  BalanceSchema,
  GenerationRequestSchema,
  SubmitResponseSchema,
  TaskResponseSchema,
  type Balance,
  type GenerationRequest,
  type Task,
} from './schemas.js';
import type { Got } from 'got';
import type * as z from 'zod/mini';

export const DEFAULT_BASE_URL = 'https://api.apimart.ai/v1';

export interface ClientOptions {
  apiKey?: string | undefined;
  baseUrl?: string | undefined;
  clock?: Clock;
  /** Environment for proxy settings (HTTPS_PROXY, NO_PROXY). */
  env?: Record<string, string | undefined>;
  retryPolicy?: Partial<RetryPolicy>;
  /** Verbose trace: one line per request, response and retry, the key redacted. */
  log?: ((line: string) => void) | undefined;
  onRetry?: ((event: RetryEvent & { endpoint: string }) => void) | undefined;
  random?: () => number;
  userAgent?: string;
  /** A download that delivers no byte for this long is dropped and resumed (default 30 s). */
  downloadIdleTimeoutMs?: number | undefined;
}

/**
 * Hidden knobs for the test suite only: subprocess tests cannot inject a fake clock, and real
 * backoff (0.5 s, 1 s, 2 s…) or a 30 s idle timeout would make every fault test slow.
 * OMNI_VIDEO_TEST_RETRY_MS sets the first backoff delay (the rest double from it);
 * OMNI_VIDEO_TEST_IDLE_TIMEOUT_MS the download idle timeout. Undocumented for users on purpose.
 */
function testTuning(env: Record<string, string | undefined>): { retryPolicy: Partial<RetryPolicy>; idleTimeoutMs: number | undefined } {
  const number = (name: string) => {
    const value = env[name];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const initialDelayMs = number('OMNI_VIDEO_TEST_RETRY_MS');
  return {
    retryPolicy: initialDelayMs === undefined ? {} : { initialDelayMs, maxDelayMs: initialDelayMs * 16 },
    idleTimeoutMs: number('OMNI_VIDEO_TEST_IDLE_TIMEOUT_MS'),
  };
}

/** One answer of the API, whatever its status. */
interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
}

export interface SubmitOptions extends RequestOptions {
  /**
   * Told when the signal aborts while the paid request is on its way: that request is not cut
   * (the service may already have created the job), its answer is awaited so the task id is kept.
   */
  onAbortInFlight?: (() => void) | undefined;
}


/** True when a URL may carry the key: https, or plain http to this machine only. */
export function isSafeOrigin(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

export class InsecureBaseUrlError extends InvalidRequestError {}

/** The service's own words from an error body, whatever its shape; undefined for HTML or noise. */
export function serviceMessage(body: string): string | undefined {
  const text = body.trim();
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') {
      const record = parsed as Record<string, unknown>;
      const error = record.error;
      if (error && typeof error === 'object' && typeof (error as Record<string, unknown>).message === 'string') {
        return (error as Record<string, string>).message;
      }
      if (typeof error === 'string') return error;
      for (const key of ['message', 'msg', 'detail']) {
        if (typeof record[key] === 'string') return record[key] as string;
      }
    }
    return undefined;
  } catch {
    if (/^<|<html|<!doctype/i.test(text)) return undefined;
    return text.length <= 200 ? text : undefined;
  }
}

/**
 * After these the job may exist (and be charged): the request left (a reset, a read timeout), the
 * service failed mid-way (5xx other than 503), or it said 200 in a form we could not read.
 */
function submissionMayHaveLanded(error: unknown): error is APIConnectionError | APIError {
  if (error instanceof APIConnectionError) return !error.neverSent;
  if (error instanceof ServiceUnavailableError) return error.status !== 503;
  return error instanceof MalformedResponseError && error.status >= 200 && error.status < 300;
}

/** A refused certificate, or a proxy refusing credentials or the target, stays refused: trying again changes nothing. */
function isLasting(error: APIConnectionError): boolean {
  return error instanceof CertificateError || (error instanceof ProxyRefusedError && (error.status ?? 500) < 500);
}

/** The one client of the API: every request, retry and check goes through here. */
export class OmniVideoClient {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #clock: Clock;
  readonly #env: Record<string, string | undefined>;
  readonly #policy: RetryPolicy;
  readonly #log: ((line: string) => void) | undefined;
  readonly #onRetry: ClientOptions['onRetry'];
  readonly #random: () => number;
  readonly #http: Got;
  readonly #idleTimeoutMs: number | undefined;

  constructor(options: ClientOptions = {}) {
    const base = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new InvalidRequestError(`Invalid base URL: ${base}`, { hint: 'Use a URL such as https://api.apimart.ai/v1' });
    }
    if (!isSafeOrigin(url)) {
      throw new InsecureBaseUrlError(`Refusing to send the API key over plain http to ${url.host}.`, {
        hint: 'Use an https:// base URL (plain http is allowed only to localhost).',
      });
    }
    this.baseUrl = base;
    this.#apiKey = options.apiKey;
    this.#clock = options.clock ?? systemClock;
    this.#env = options.env ?? {};
    const tuning = testTuning(this.#env);
    this.#policy = { ...defaultRetryPolicy, ...tuning.retryPolicy, ...options.retryPolicy };
    this.#idleTimeoutMs = options.downloadIdleTimeoutMs ?? tuning.idleTimeoutMs;
    this.#log = options.log;
    this.#onRetry = options.onRetry;
    this.#random = options.random ?? Math.random;
    this.#http = createApiHttp({ baseUrl: base, apiKey: this.#apiKey, userAgent: options.userAgent ?? 'omni-video', env: this.#env, log: this.#log });
  }

  /**
   * Submits one paid job. Resent only when the service provably did not take it. An abort stops
   * it before a request leaves or while it waits to resend one (InterruptedBeforeSendingError);
   * a request on its way is answered first, so the task id of a job created meanwhile is kept.
   */
  async submit(request: GenerationRequest, options: SubmitOptions = {}): Promise<{ taskId: string; status: string | undefined }> {
    const checked = GenerationRequestSchema.safeParse(request);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new InvalidRequestError(`Invalid request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`, { hint: 'Nothing was sent.' });
    }
    const body = checked.data;
    const endpoint = 'POST /videos/generations';
    const exchange = { inFlight: false };
    const onAbort = () => {
      if (exchange.inFlight) options.onAbortInFlight?.();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const parsed = await this.#call(endpoint, 'POST', '/videos/generations', SubmitResponseSchema, options.signal, body, exchange, (error) => {
        if (error instanceof APIConnectionError) return { retry: error.neverSent && !isLasting(error) };
        if (error instanceof RateLimitError) return { retry: true, retryAfterMs: parseRetryAfter(error.headers, this.#clock.now()) };
        if (error instanceof ServiceUnavailableError && error.status === 503) {
          return { retry: true, retryAfterMs: parseRetryAfter(error.headers, this.#clock.now()) };
        }
        return { retry: false };
      });
      // The schema requires one entry.
      const first = parsed.data[0]!;
      return { taskId: first.task_id, status: first.status };
    } catch (error) {
      // Stopped with no request out: every earlier attempt was one the service provably did not take.
      if (options.signal?.aborted && error === options.signal.reason) {
        if (error instanceof InterruptedError) throw new InterruptedBeforeSendingError(error.signalName, `${error.message} No request was under way: nothing was submitted.`);
        throw error;
      }
      if (submissionMayHaveLanded(error)) {
        throw new SubmissionUncertainError(
          `The submission may or may not have reached the service (${error.message}); it was not resent, to avoid paying twice.`,
          { cause: error, hint: 'Check with: omni-video jobs, then omni-video status <task_id> once the id is known.' },
        );
      }
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async getTask(taskId: string, options: RequestOptions = {}): Promise<Task> {
    const parsed = await this.#call(
      'GET /tasks/{id}',
      'GET',
      `/tasks/${encodeURIComponent(taskId)}`,
      TaskResponseSchema,
      options.signal,
      undefined,
      undefined,
      (error) => this.#idempotentDecision(error),
    );
    return parsed.data;
  }

  async balance(options: RequestOptions & { user?: boolean } = {}): Promise<Balance> {
    const path = options.user ? '/user/balance' : '/balance';
    return this.#call(`GET ${path}`, 'GET', path, BalanceSchema, options.signal, undefined, undefined, (error) => this.#idempotentDecision(error));
  }

  /** Polls until the job ends; a look failing for what a retry would cure (5xx, 429, the network) does not end the wait. */
  waitForTask(taskId: string, options: Omit<WaitOptions, 'getTask' | 'clock'> = {}): Promise<Task> {
    return waitForTask(taskId, {
      isTransient: (error) => this.#idempotentDecision(error).retry,
      ...options,
      clock: this.#clock,
      getTask: (id, signal) => this.getTask(id, { signal }),
    });
  }

  /** Streams the task's video to `destination` (a .part file beside it, checked, then renamed). */
  downloadResult(task: Task, destination: string, options: Omit<DownloadOptions, 'clock' | 'env' | 'policy' | 'refreshTask' | 'log' | 'random'> = {}): Promise<DownloadResult> {
    return downloadToFile(task, destination, {
      idleTimeoutMs: this.#idleTimeoutMs,
      ...options,
      clock: this.#clock,
      env: this.#env,
      policy: this.#policy,
      log: this.#log,
      random: this.#random,
      onRetry: (event) => this.#onRetry?.({ ...event, endpoint: 'download' }),
      refreshTask: () => this.getTask(task.id, { signal: options.signal }),
    });
  }

  #idempotentDecision(error: unknown): RetryDecision {
    if (error instanceof APIConnectionError) return { retry: !isLasting(error) };
    if (error instanceof MalformedResponseError) return { retry: true };
    if (error instanceof RateLimitError || error instanceof ServiceUnavailableError) {
      return { retry: true, retryAfterMs: parseRetryAfter(error.headers, this.#clock.now()) };
    }
    return { retry: false };
  }

  async #call<S extends z.ZodMiniType>(
    endpoint: string,
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    signal: AbortSignal | undefined,
    json: unknown,
    /** Given for the paid submission: a request on its way is not aborted (it may have arrived), and `inFlight` says when one is. */
    exchange: { inFlight: boolean } | undefined,
    decide: (error: unknown) => RetryDecision,
  ): Promise<z.infer<S>> {
    if (!this.#apiKey) {
      throw new ConfigurationError('No API key.', {
        hint: 'Set one with: omni-video config set api-key (or OMNI_VIDEO_API_KEY, or --api-key).',
      });
    }
    const context: CallContext = { endpoint };
    return withRetry(
      async () => {
        // Nothing starts once interrupted.
        if (signal?.aborted) throw signal.reason;
        let response: ApiResponse;
        if (exchange) exchange.inFlight = true;
        try {
          const answer = await this.#http(path.replace(/^\//, ''), { method, json, signal: exchange ? undefined : signal, context });
          response = { status: answer.statusCode, headers: answer.headers, body: String(answer.body) };
        } catch (error) {
          if (signal?.aborted && !exchange) throw signal.reason;
          const connectionError = toConnectionError(error, `${endpoint} failed`);
          this.#log?.(`← ${connectionError.message}`);
          throw connectionError;
        } finally {
          if (exchange) exchange.inFlight = false;
        }
        return this.#parse(endpoint, response, schema);
      },
      {
        policy: this.#policy,
        clock: this.#clock,
        decide,
        signal,
        random: this.#random,
        onRetry: (event) => {
          this.#log?.(`  retry ${event.attempt}/${this.#policy.maxAttempts - 1} of ${endpoint} in ${event.delayMs} ms: ${(event.error as Error).message}`);
          this.#onRetry?.({ ...event, endpoint });
        },
      },
    );
  }

  #parse<S extends z.ZodMiniType>(endpoint: string, response: ApiResponse, schema: S): z.infer<S> {
    // What errors carry (messages, the history): never the key, even where the service echoes it.
    const body = this.#apiKey ? response.body.split(this.#apiKey).join('***') : response.body;
    const details = {
      status: response.status,
      endpoint,
      serviceMessage: serviceMessage(body),
      body,
      headers: response.headers,
    };
    if (response.status < 200 || response.status >= 300) throw APIError.fromResponse(details);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      const what = !response.body.trim() ? 'an empty body' : /^\s*</.test(response.body) ? 'an HTML page' : 'invalid JSON';
      throw new MalformedResponseError(`Malformed answer from ${endpoint} (HTTP ${response.status}): ${what}`, details, 'Try again; if it persists, the service or a proxy in between is misbehaving.');
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'unexpected shape';
      // Some gateways answer 200 with an error inside (`{"success":false,"message":...}`).
      if (details.serviceMessage && typeof parsed === 'object' && parsed !== null && (parsed as Record<string, unknown>).success === false) {
        throw APIError.fromResponse({ ...details, status: 400 });
      }
      throw new MalformedResponseError(`Malformed answer from ${endpoint} (HTTP ${response.status}): ${where}`, details, 'Try again; if it persists, please report it.');
    }
    return result.data;
  }
}
