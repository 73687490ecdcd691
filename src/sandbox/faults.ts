/**
 * The fault switches at work: each function uses up the switch that applies to this request (a
 * counted fault applies to the next N requests of its kind) and says, or sends, what it does
 * instead of the normal answer. The switches themselves are `Faults` (options.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Faults } from './options.js';
import { apiError, reset, sendJson, sendRaw, type Exchange } from './respond.js';
import type { TaskOutcome } from './tasks.js';

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
