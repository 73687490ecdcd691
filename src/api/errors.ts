/**
 * One error hierarchy for everything the client can meet, picked by HTTP status where there is
 * one (as openai-node's APIError.fromResponse). Each carries the service's own message; the CLI
 * maps classes to exit codes, the library knows nothing of them.
 */
export class OmniVideoError extends Error {
  /**
   * What the user can do next, one short line. Writable on purpose: the library suggests the bare
   * command (`omni-video download <id> --wait`), and a caller that knows more (the CLI knows the
   * user's -o, --force and --base-url) replaces it with the exact one.
   */
  hint: string | undefined;
  constructor(message: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Input refused before anything was sent. */
export class InvalidRequestError extends OmniVideoError {}

/** No key, or a setting that cannot be used as it is. */
export class ConfigurationError extends OmniVideoError {}

export interface APIErrorDetails {
  status: number;
  endpoint: string;
  serviceMessage: string | undefined;
  body: string;
  headers?: Record<string, string | string[] | undefined>;
}

export class APIError extends OmniVideoError {
  readonly status: number;
  readonly endpoint: string;
  readonly serviceMessage: string | undefined;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;

  constructor(message: string, details: APIErrorDetails, hint?: string) {
    super(message, { hint });
    this.status = details.status;
    this.endpoint = details.endpoint;
    this.serviceMessage = details.serviceMessage;
    this.body = details.body;
    this.headers = details.headers ?? {};
  }

  static fromResponse(details: APIErrorDetails): APIError {
    const { status, endpoint, serviceMessage } = details;
    const said = serviceMessage ? `: ${serviceMessage}` : '';
    if (status === 400 || status === 413 || status === 422) {
      return new BadRequestError(`The service refused the request (HTTP ${status})${said}`, details, 'Check the prompt and options; nothing was charged.');
    }
    if (status === 401) {
      return new AuthenticationError(`The API key was rejected (HTTP 401)${said}`, details, 'Check the key: omni-video config set api-key, or OMNI_VIDEO_API_KEY.');
    }
    if (status === 402 || status === 403) {
      return new InsufficientBalanceError(`Insufficient balance or quota (HTTP ${status})${said}`, details, 'Top up the account, then check with: omni-video balance');
    }
    if (status === 404) {
      return new TaskNotFoundError(`No such task (HTTP 404 from ${endpoint})${said}`, details, 'Check the task id; omni-video jobs lists the jobs this machine submitted.');
    }
    if (status === 429) {
      return new RateLimitError(`Rate limited by the service (HTTP 429)${said}`, details, 'Wait a minute, then run the same command again.');
    }
    if (status >= 500) {
      return new ServiceUnavailableError(`The service is unavailable (HTTP ${status} from ${endpoint})${said}`, details, 'Try again in a few minutes.');
    }
    return new APIError(`Unexpected answer from the service (HTTP ${status} from ${endpoint})${said}`, details);
  }
}

export class BadRequestError extends APIError {}
export class AuthenticationError extends APIError {}
export class InsufficientBalanceError extends APIError {}
export class TaskNotFoundError extends APIError {}
export class RateLimitError extends APIError {}
export class ServiceUnavailableError extends APIError {}

/** The answer was not what the API documents: invalid JSON, an HTML page, an empty body, a wrong shape. */
export class MalformedResponseError extends APIError {}

/** The request never got an answer: DNS, refused, reset, timed out. */
export class APIConnectionError extends OmniVideoError {
  readonly code: string | undefined;
  /** True when the request provably never reached the service (safe to resend a paid call). */
  readonly neverSent: boolean;
  constructor(message: string, options: { code?: string | undefined; neverSent: boolean; cause?: unknown; hint?: string }) {
    super(message, { cause: options.cause, hint: options.hint ?? 'Check the network (and HTTPS_PROXY), then try again.' });
    this.code = options.code;
    this.neverSent = options.neverSent;
  }
}

export class APITimeoutError extends APIConnectionError {}

/**
 * The TLS handshake failed: the server's certificate was refused (an unknown CA, another name,
 * expired). Nothing was sent, and trying again would meet the same certificate.
 */
export class CertificateError extends APIConnectionError {}

/** The proxy would not open a tunnel to the target (it answered CONNECT with an error): nothing reached the target. */
export class ProxyRefusedError extends APIConnectionError {
  /** The proxy's answer to CONNECT, when it gave one. */
  readonly status: number | undefined;
  constructor(message: string, options: { status: number | undefined; cause?: unknown; hint?: string }) {
    super(message, { code: 'EPROXY', neverSent: true, cause: options.cause, hint: options.hint });
    this.status = options.status;
  }
}

/** The proxy refused its credentials (HTTP 407 to CONNECT). */
export class ProxyAuthenticationError extends ProxyRefusedError {}

/** A paid submission whose fate is unknown: it may have created a job. It is never resent. */
export class SubmissionUncertainError extends OmniVideoError {}

/** The job ended failed or cancelled on the service. */
export class JobFailedError extends OmniVideoError {
  readonly taskId: string;
  readonly status: string;
  constructor(taskId: string, status: string, serviceMessage: string | undefined) {
    super(
      status === 'cancelled'
        ? `Task ${taskId} was cancelled by the service${serviceMessage ? `: ${serviceMessage}` : ''}`
        : `Task ${taskId} failed${serviceMessage ? `: ${serviceMessage}` : ''}`,
      { hint: 'Adjust the prompt or inputs and submit again.' },
    );
    this.taskId = taskId;
    this.status = status;
  }
}

/** Several jobs waited for together ended failed or cancelled. */
export class JobsFailedError extends OmniVideoError {
  readonly taskIds: string[];
  constructor(taskIds: string[]) {
    super(`${taskIds.length} jobs did not complete: ${taskIds.join(', ')}`, { hint: 'See each job with: omni-video status <task_id>' });
    this.taskIds = taskIds;
  }
}

/** Part of a larger run (a batch) did not complete; the kind of problem is its cause's. */
export class IncompleteRunError extends OmniVideoError {
  override readonly cause: Error;
  constructor(message: string, cause: Error, hint?: string) {
    super(message, { cause, hint });
    this.cause = cause;
  }
}

/** Our wait ran out; the job itself keeps running on the service. */
export class WaitTimeoutError extends OmniVideoError {
  readonly taskId: string;
  constructor(taskId: string, seconds: number, hint = `Resume with: omni-video download ${taskId} --wait`) {
    super(`Still running after ${seconds} s: task ${taskId} keeps going on the service.`, { hint });
    this.taskId = taskId;
  }
}

/** The job is not finished and the caller did not ask to wait. */
export class TaskNotReadyError extends OmniVideoError {
  readonly taskId: string;
  constructor(taskId: string, status: string, hint = `Wait for it with: omni-video download ${taskId} --wait`) {
    super(`Task ${taskId} is ${status}, not completed yet.`, { hint });
    this.taskId = taskId;
  }
}

/** The result's temporary link has expired. */
export class LinkExpiredError extends OmniVideoError {
  /** False when the file server refused a link that should still be valid: a later try may work. */
  readonly pastExpiry: boolean;
  constructor(message: string, options: { hint?: string | undefined; pastExpiry: boolean }) {
    super(message, options);
    this.pastExpiry = options.pastExpiry;
  }
}

/** The file could not be fetched or failed its checks. */
export class DownloadError extends OmniVideoError {}

/** Ctrl-C or SIGTERM. */
export class InterruptedError extends OmniVideoError {
  readonly signalName: 'SIGINT' | 'SIGTERM';
  constructor(signalName: 'SIGINT' | 'SIGTERM', message?: string, hint?: string) {
    super(message ?? (signalName === 'SIGINT' ? 'Interrupted.' : 'Terminated.'), { hint });
    this.signalName = signalName;
  }
}

/** Ctrl-C or SIGTERM during a paid submission while no request was out (before it, or while waiting to retry one the service refused): nothing was submitted. */
export class InterruptedBeforeSendingError extends InterruptedError {}

/** The output file exists and overwriting was not asked for. */
export class OutputExistsError extends InvalidRequestError {}
