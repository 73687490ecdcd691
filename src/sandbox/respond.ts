/**
 * Answering a request, and the request log: one entry per request when it ends, whether it was
 * answered, reset, cut or stalled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxState } from './state.js';

export interface SandboxLogEntry {
  server: 'api' | 'files';
  method: string;
  path: string;
  /** HTTP status, or what happened instead of a complete answer. */
  status: number | 'reset' | 'cut' | 'stalled' | 'aborted';
  ms: number;
  /** E.g. the task id created by a submission, or the fault that was applied. */
  note?: string;
}

/** One request as it is being handled: what its log entry will say. */
export interface Exchange {
  start: number;
  server: 'api' | 'files';
  method: string;
  path: string;
  note?: string;
  /** Set when the request ends otherwise than with a complete answer. */
  outcome?: SandboxLogEntry['status'];
  logged: boolean;
}

export function beginExchange(state: SandboxState, server: 'api' | 'files', req: IncomingMessage, res: ServerResponse): Exchange {
  const exchange: Exchange = { start: Date.now(), server, method: req.method ?? 'GET', path: req.url ?? '/', logged: false };
  res.on('close', () => {
    logExchange(state, exchange, exchange.outcome ?? (res.writableFinished ? res.statusCode : 'aborted'));
  });
  return exchange;
}

/** Logs the exchange once (a stalled download is logged when it stalls, not when it closes). */
export function logExchange(state: SandboxState, exchange: Exchange, status: SandboxLogEntry['status']): void {
  if (exchange.logged || !state.onResponse) return;
  exchange.logged = true;
  const entry: SandboxLogEntry = {
    server: exchange.server,
    method: exchange.method,
    path: exchange.path,
    status,
    ms: Date.now() - exchange.start,
  };
  if (exchange.note !== undefined) entry.note = exchange.note;
  try {
    state.onResponse(entry);
  } catch {
    // logging must never break the simulator
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendRaw(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
}

export function sendRaw(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The error body of api-reference.md: `{"error": {message, type, code}}`. */
export const apiError = (message: string, type: string, code?: string) => ({
  error: code === undefined ? { message, type } : { message, type, code },
});

/** Drops the connection without an answer. */
export function reset(req: IncomingMessage, exchange: Exchange): void {
  exchange.outcome = 'reset';
  req.socket.destroy();
}
