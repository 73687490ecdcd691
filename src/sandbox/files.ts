/**
 * The file server: a separate origin, like the service's CDN. It serves the result of a completed
 * task to a valid signed link, without any key; GET and HEAD, Range and If-Range (RFC 9110), S3-like
 * XML errors. Downloads may be paced (downloadBytesPerSecond), cut or stalled (the fault switches).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { takeDownloadBreak, takeDownloadStatus } from './faults.js';
import { checkLink, sec } from './links.js';
import type { Media } from './media.js';
import { Pacer } from './pace.js';
import { logExchange, sendRaw, type Exchange } from './respond.js';
import type { SandboxState } from './state.js';
import { statusAt } from './tasks.js';

const XML_CODES: Record<number, [string, string]> = {
  400: ['InvalidRequest', 'Bad request'],
  401: ['AccessDenied', 'Unauthorized'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  410: ['Gone', 'The resource is no longer available.'],
  429: ['SlowDown', 'Please reduce your request rate.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  502: ['BadGateway', 'Bad gateway.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

function xmlError(code: string, message: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>\n`
  );
}

/** The part of the file a request gets: all of it (200), a range (206), or none (416). */
type Selection = { status: 200 | 206; start: number; end: number } | { status: 416 };

/** Applies Range, honoured only when If-Range (if any) matches the ETag or Last-Modified. */
function select(range: string | undefined, ifRange: string | undefined, size: number, etag: string, lastModified: string): Selection {
  const whole = { status: 200, start: 0, end: size - 1 } as const;
  if (range === undefined || size === 0) return whole;
  if (ifRange !== undefined && ifRange !== '') {
    const matches = ifRange.startsWith('"') || ifRange.startsWith('W/') ? ifRange === etag : Date.parse(ifRange) === Date.parse(lastModified);
    if (!matches) return whole;
  }
  const r = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!r || (r[1] === '' && r[2] === '')) return whole;
  let a: number;
  let b: number;
  if (r[1] === '') {
    const suffix = Number(r[2]);
    a = Math.max(0, size - suffix);
    b = suffix === 0 ? -1 : size - 1;
  } else {
    a = Number(r[1]);
    b = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  }
  if (a < size && b >= a) return { status: 206, start: a, end: b };
  // b < a with both given: a syntactically invalid range, ignored (RFC 9110 14.2).
  return r[2] === '' || r[1] === '' || a >= size ? { status: 416 } : whole;
}

export async function handleFiles(state: SandboxState, media: Media, req: IncomingMessage, res: ServerResponse, exchange: Exchange): Promise<void> {
  const { faults } = state;
  const method = req.method ?? 'GET';
  state.requests.push({ server: 'files', method, path: req.url ?? '/', headers: { ...req.headers }, at: Date.now() });
  req.resume();
  const xml = (status: number, code?: string, message?: string, headers: Record<string, string> = {}) => {
    const [c, m] = XML_CODES[status] ?? ['Error', `HTTP ${status}`];
    const text = xmlError(code ?? c, message ?? m);
    if (method === 'HEAD') {
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), ...headers });
      res.end();
    } else {
      sendRaw(res, status, 'application/xml', text, headers);
    }
  };
  if (method !== 'GET' && method !== 'HEAD') {
    xml(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { allow: 'GET, HEAD' });
    return;
  }
  const faultStatus = takeDownloadStatus(faults, exchange);
  if (faultStatus !== undefined) {
    xml(faultStatus);
    return;
  }
  const now = state.clock();
  const link = checkLink(state, new URL(req.url ?? '/', 'http://files.invalid'));
  if (!link || statusAt(link.task, now).status !== 'completed') {
    xml(404);
    return;
  }
  if (faults.expireLinks || link.expires < sec(now)) {
    exchange.note = 'expired link';
    xml(403, 'AccessDenied', 'Request has expired');
    return;
  }

  const { task } = link;
  const file = media.fileFor(task.aspectRatio);
  const lastModified = new Date(sec(task.createdMs + task.durationMs) * 1000).toUTCString();
  const headers: Record<string, string | number> = {
    'content-type': 'video/mp4',
    etag: file.etag,
    'last-modified': lastModified,
    'cache-control': 'private, max-age=86400',
  };
  if (!faults.downloadIgnoreRange) headers['accept-ranges'] = 'bytes';
  const range = faults.downloadIgnoreRange ? undefined : req.headers.range;
  const ifRange = req.headers['if-range'];
  const selection = select(range, typeof ifRange === 'string' ? ifRange : undefined, file.size, file.etag, lastModified);
  if (selection.status === 416) {
    exchange.note = `unsatisfiable ${String(req.headers.range)}`;
    xml(416, 'InvalidRange', 'The requested range is not satisfiable', { 'content-range': `bytes */${file.size}` });
    return;
  }
  const { status, start, end } = selection;
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
  headers['content-length'] = end - start + 1;
  if (method === 'HEAD') {
    res.writeHead(status, headers);
    res.end();
    return;
  }

  const length = end - start + 1;
  const broken = takeDownloadBreak(faults, exchange);
  res.writeHead(status, headers);
  const sent = await sendBody(state, res, exchange, file.open(start, end), Math.min(length, broken?.afterBytes ?? Infinity));
  if (res.destroyed || state.isStopped()) return;
  if (broken?.kind === 'cut' && sent < length) {
    exchange.outcome = 'cut';
    // end (not destroy) so the bytes already written reach the client before the close
    res.socket?.end();
    state.later(2000, () => res.socket?.destroy());
  } else if (broken?.kind === 'stall' && sent < length) {
    exchange.outcome = 'stalled';
    logExchange(state, exchange, 'stalled'); // the socket stays open, nothing more is sent; stop() or the client ends it
  } else {
    res.end();
  }
}

/**
 * Writes the first `total` bytes of the source, paced when the sandbox has a download rate, and
 * leaves the response open; returns the bytes written. A broken source or response ends as a reset.
 */
async function sendBody(state: SandboxState, res: ServerResponse, exchange: Exchange, source: Readable, total: number): Promise<number> {
  const rate = state.settings.downloadBytesPerSecond;
  const pacer = rate === undefined ? undefined : new Pacer(rate);
  let sent = 0;
  try {
    if (total === 0) res.flushHeaders();
    for await (const chunk of source as AsyncIterable<Buffer>) {
      for (let at = 0; at < chunk.length && sent < total; ) {
        if (res.destroyed || state.isStopped()) return sent;
        const size = Math.min(chunk.length - at, total - sent, pacer?.slice ?? Infinity);
        if (pacer) await pacer.take(size, res);
        if (res.destroyed || state.isStopped()) return sent;
        sent += size;
        if (!res.write(chunk.subarray(at, at + size))) await drainedOrClosed(res);
        at += size;
      }
      if (sent >= total) break;
    }
  } catch {
    // the file could not be read, or the client went away: drop the connection
    if (!res.destroyed) {
      exchange.outcome = 'reset';
      res.destroy();
    }
  } finally {
    source.destroy();
  }
  return sent;
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
