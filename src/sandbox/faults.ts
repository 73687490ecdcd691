/**
 * The fault switches at work: each function uses up the switch that applies to this request (a
 * counted fault applies to the next N requests of its kind) and says, or sends, what it does
 * instead of the normal answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiError, reset, sendJson, sendRaw, type Exchange } from './respond.js';
import type { TaskOutcome } from './tasks.js';

/** The message of failed jobs unless faults.failMessage says otherwise (localised when it is this one). */
export const DEFAULT_FAIL_MESSAGE = 'The content violates the usage policy';

export interface Faults {
  /** Answer submissions this late (the job is created on receipt). */
  submitDelayMs: number;
  /** Next N submissions: 429 + Retry-After, no job created. */
  submit429: number;
  /** Value of Retry-After for 429s (seconds, or an HTTP date); default '1'. */
  retryAfter: string;
  /** Next N submissions: 503, no job created. */
  submit503: number;
  /** Next N submissions: the job IS created (and charged), then the socket is destroyed. */
  submitResetAfterCreate: number;
  /** Next N GET /tasks/:id: 502 with a JSON error. */
  poll5xx: number;
  /** Next N GET /tasks/:id: 502 with an HTML page. */
  pollHtml: number;
  /** Next N GET /tasks/:id: 200 with invalid JSON. */
  pollMalformed: number;
  /** Next N GET /tasks/:id: 200 with an empty body. */
  pollEmpty: number;
  /** Next N GET /tasks/:id: 200 with valid JSON of the wrong shape (no id, status a number). */
  pollBadShape: number;
  /** Next N GET /tasks/:id: socket destroyed, no response. */
  pollReset: number;
  /** Next N GET /tasks/:id: 429 with Retry-After. */
  poll429: number;
  /** Next N created jobs end 'failed' (when they would have completed). */
  failJobs: number;
  /** Message of those failures; default 'The content violates the usage policy'. */
  failMessage: string;
  /** Next N created jobs end 'cancelled'. */
  cancelJobs: number;
  /** Next N file downloads (GET) are cut after downloadCutAfterBytes body bytes. */
  downloadCuts: number;
  /** Body bytes sent before a cut; default 10000. */
  downloadCutAfterBytes: number;
  /** The file server ignores Range (always 200 with the full body, no Accept-Ranges). */
  downloadIgnoreRange: boolean;
  /** Status answered by the next downloadStatusCount file requests (e.g. 403, 404, 410). */
  downloadStatus: number;
  downloadStatusCount: number;
  /** Results carry expires_at in the past and the file server answers 403 for every link. */
  expireLinks: boolean;
  /** result.videos[].url as a single string instead of an array. */
  urlAsString: boolean;
  /** If > 0: the next download sends this many body bytes, then stalls until the client gives up (one-shot: reset to 0 when used). */
  stallAfterBytes: number;
}

export function defaultFaults(): Faults {
  return {
    submitDelayMs: 0,
    submit429: 0,
    retryAfter: '1',
    submit503: 0,
    submitResetAfterCreate: 0,
    poll5xx: 0,
    pollHtml: 0,
    pollMalformed: 0,
    pollEmpty: 0,
    pollBadShape: 0,
    pollReset: 0,
    poll429: 0,
    failJobs: 0,
    failMessage: DEFAULT_FAIL_MESSAGE,
    cancelJobs: 0,
    downloadCuts: 0,
    downloadCutAfterBytes: 10_000,
    downloadIgnoreRange: false,
    downloadStatus: 0,
    downloadStatusCount: 0,
    expireLinks: false,
    urlAsString: false,
    stallAfterBytes: 0,
  };
}

type CountedFault =
  | 'submit429'
  | 'submit503'
  | 'submitResetAfterCreate'
  | 'poll5xx'
  | 'pollHtml'
  | 'pollMalformed'
  | 'pollEmpty'
  | 'pollReset'
  | 'poll429'
  | 'pollBadShape'
  | 'failJobs'
  | 'cancelJobs'
  | 'downloadCuts';

/** Uses up one request of a "next N requests" fault; true when this request gets it. */
export function takeFault(faults: Faults, name: CountedFault, exchange?: Exchange): boolean {
  if (faults[name] <= 0) return false;
  faults[name]--;
  if (exchange) exchange.note = `fault ${name}`;
  return true;
}

/** A submission refused before it is read: 429 or 503, no job created. True when it was answered. */
export function answerSubmitFault(faults: Faults, res: ServerResponse, exchange: Exchange): boolean {
  if (takeFault(faults, 'submit429', exchange)) {
    sendJson(res, 429, apiError('Rate limit exceeded, please retry later', 'rate_limit_error', 'rate_limit_exceeded'), {
      'retry-after': faults.retryAfter,
    });
    return true;
  }
  if (takeFault(faults, 'submit503', exchange)) {
    sendJson(res, 503, apiError('Service temporarily unavailable, please retry later', 'server_error', 'service_unavailable'));
    return true;
  }
  return false;
}

/** A submission whose job was created and charged, then its connection dropped unanswered. True when dropped. */
export function dropAfterCreate(faults: Faults, req: IncomingMessage, exchange: Exchange): boolean {
  if (!takeFault(faults, 'submitResetAfterCreate')) return false;
  exchange.note = `${exchange.note ?? ''}, fault submitResetAfterCreate`;
  reset(req, exchange);
  return true;
}

/** How the next created job ends. */
export function takeOutcome(faults: Faults): TaskOutcome {
  if (takeFault(faults, 'failJobs')) return 'failed';
  if (takeFault(faults, 'cancelJobs')) return 'cancelled';
  return 'completed';
}

/** A status request broken on the way, before the key is even checked. True when it was answered (or dropped). */
export function answerPollFault(faults: Faults, req: IncomingMessage, res: ServerResponse, exchange: Exchange, id: string): boolean {
  if (takeFault(faults, 'pollReset', exchange)) {
    reset(req, exchange);
  } else if (takeFault(faults, 'poll429', exchange)) {
    sendJson(res, 429, apiError('Too many requests', 'rate_limit_error', 'rate_limit_exceeded'), { 'retry-after': faults.retryAfter });
  } else if (takeFault(faults, 'poll5xx', exchange)) {
    sendJson(res, 502, { code: 502, message: 'Bad gateway: upstream service unavailable' });
  } else if (takeFault(faults, 'pollHtml', exchange)) {
    sendRaw(
      res,
      502,
      'text/html',
      '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
    );
  } else if (takeFault(faults, 'pollMalformed', exchange)) {
    sendRaw(res, 200, 'application/json; charset=utf-8', `{"code":200,"data":{"id":"${id}","status":"proc`);
  } else if (takeFault(faults, 'pollEmpty', exchange)) {
    sendRaw(res, 200, 'application/json; charset=utf-8', '');
  } else if (takeFault(faults, 'pollBadShape', exchange)) {
    sendJson(res, 200, { code: 200, data: { status: 3, progress: 'half' } });
  } else {
    return false;
  }
  return true;
}

/** The status the next file requests answer instead of the file, if any. */
export function takeDownloadStatus(faults: Faults, exchange: Exchange): number | undefined {
  if (faults.downloadStatusCount <= 0 || faults.downloadStatus <= 0) return undefined;
  faults.downloadStatusCount--;
  exchange.note = `fault downloadStatus ${faults.downloadStatus}`;
  return faults.downloadStatus;
}

/** How a download breaks: cut (closed) or stalled (left open) after some body bytes. */
export type DownloadBreak = { kind: 'cut' | 'stall'; afterBytes: number };

export function takeDownloadBreak(faults: Faults, exchange: Exchange): DownloadBreak | undefined {
  if (takeFault(faults, 'downloadCuts')) {
    const afterBytes = Math.max(0, faults.downloadCutAfterBytes);
    exchange.note = `fault downloadCut after ${afterBytes} bytes`;
    return { kind: 'cut', afterBytes };
  }
  if (faults.stallAfterBytes > 0) {
    const afterBytes = faults.stallAfterBytes;
    faults.stallAfterBytes = 0;
    exchange.note = `fault stall after ${afterBytes} bytes`;
    return { kind: 'stall', afterBytes };
  }
  return undefined;
}
