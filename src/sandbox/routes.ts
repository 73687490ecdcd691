/**
 * The API server's endpoints (api-reference.md): POST /v1/videos/generations, GET /v1/tasks/:id,
 * GET /v1/balance and GET /v1/user/balance, each behind a Bearer key.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerPollFault, answerSubmitFault, dropAfterCreate, takeOutcome } from './faults.js';
import { apiError, sendJson, type Exchange } from './respond.js';
import type { RecordedRequest, SandboxState } from './state.js';
import { createTask, langOf, money, NOT_FOUND, taskView } from './tasks.js';
import { parseSubmission } from './validate.js';

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(.*)$/i.exec(h.trim());
  const key = m?.[1]?.trim();
  return key ? key : undefined;
}

function authorized(state: SandboxState, req: IncomingMessage): boolean {
  const key = bearer(req);
  if (key === undefined) return false;
  const wanted = state.settings.apiKey;
  if (wanted === undefined) return true;
  const a = Buffer.from(key);
  const b = Buffer.from(wanted);
  return a.length === b.length && timingSafeEqual(a, b);
}

const unauthorized = (res: ServerResponse) => sendJson(res, 401, apiError('Invalid API key', 'authentication_error', 'invalid_api_key'));

/** Reads the body up to maxBodyBytes; beyond that it is drained and discarded. */
function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let tooLarge = Number(req.headers['content-length'] ?? 0) > maxBodyBytes;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBodyBytes) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (total > maxBodyBytes * 4) req.socket.destroy(); // not draining gigabytes
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve({ text: tooLarge ? '' : Buffer.concat(chunks).toString('utf8'), tooLarge }));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

export async function handleApi(state: SandboxState, req: IncomingMessage, res: ServerResponse, exchange: Exchange): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const { maxBodyBytes } = state.settings;

  let body: { text: string; tooLarge: boolean };
  try {
    body = await readBody(req, maxBodyBytes);
  } catch {
    exchange.outcome = 'aborted';
    return;
  }
  const record: RecordedRequest = { server: 'api', method, path: req.url ?? '/', headers: { ...req.headers }, at: Date.now() };
  let parsed: unknown;
  let parses = false;
  if (body.text !== '') {
    try {
      parsed = JSON.parse(body.text);
      parses = true;
    } catch {
      parsed = body.text;
    }
    record.body = parsed;
  }
  state.requests.push(record);
  if (state.isStopped()) return;

  if (body.tooLarge) {
    sendJson(res, 413, apiError(`Request body too large (limit ${maxBodyBytes} bytes)`, 'invalid_request_error', 'request_too_large'), {
      connection: 'close',
    });
    return;
  }

  const taskMatch = /^\/v1\/tasks\/([^/]+)$/.exec(path);
  const known = path === '/v1/videos/generations' || path === '/v1/balance' || path === '/v1/user/balance' || taskMatch !== null;
  if (!known) {
    sendJson(res, 404, apiError(`Not found: ${method} ${path}`, 'invalid_request_error', 'not_found'));
    return;
  }
  const wanted = path === '/v1/videos/generations' ? 'POST' : 'GET';
  if (method !== wanted) {
    sendJson(res, 405, apiError(`Method ${method} not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed'), { allow: wanted });
    return;
  }

  if (path === '/v1/videos/generations') return submit(state, req, res, exchange, parses ? parsed : invalidJson);
  if (taskMatch) return poll(state, req, res, exchange, decodeURIComponent(taskMatch[1]!), url);
  return sendBalance(state, req, res, path === '/v1/user/balance');
}

function sendBalance(state: SandboxState, req: IncomingMessage, res: ServerResponse, user: boolean): void {
  if (!authorized(state, req)) {
    sendJson(res, 401, { success: false, message: 'Invalid API key' });
    return;
  }
  const { balance } = state;
  const factor = user ? 10 : 1;
  sendJson(res, 200, {
    success: true,
    remain_balance: balance.unlimited ? -1 : money(balance.remain * factor),
    used_balance: money(balance.used * factor),
    unlimited_quota: balance.unlimited,
  });
}

/** Stands for a body that is not JSON. */
const invalidJson = Symbol('invalid JSON');

function submit(state: SandboxState, req: IncomingMessage, res: ServerResponse, exchange: Exchange, body: unknown): void {
  const { faults, balance, settings } = state;
  if (answerSubmitFault(faults, res, exchange)) return;
  if (!authorized(state, req)) return unauthorized(res);
  const invalid = (message: string, code = 'invalid_parameter') => sendJson(res, 400, apiError(message, 'invalid_request_error', code));
  if (body === invalidJson) return invalid('Request body must be valid JSON', 'invalid_json');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('Request body must be a JSON object', 'invalid_json');
  const submission = parseSubmission(body, (id) => state.tasks.has(id));
  if ('problem' in submission) return invalid(submission.problem);
  if (!balance.unlimited && balance.remain < settings.costPerJob) {
    const message = `Insufficient balance: ${money(balance.remain)} left, this job costs ${settings.costPerJob}. Top up your account.`;
    sendJson(res, 402, apiError(message, 'insufficient_quota', 'insufficient_balance'));
    return;
  }

  const task = createTask(state, submission.request, takeOutcome(faults));
  exchange.note = `created ${task.id} (${task.aspectRatio}${task.outcome === 'completed' ? '' : `, will be ${task.outcome}`})`;
  if (dropAfterCreate(faults, req, exchange)) return;
  const answer = () => sendJson(res, 200, { code: 200, data: [{ status: 'submitted', task_id: task.id }] });
  if (faults.submitDelayMs > 0) state.later(faults.submitDelayMs, answer);
  else answer();
}

function poll(state: SandboxState, req: IncomingMessage, res: ServerResponse, exchange: Exchange, id: string, url: URL): void {
  if (answerPollFault(state.faults, req, res, exchange, id)) return;
  if (!authorized(state, req)) return unauthorized(res);
  const lang = langOf(url.searchParams.get('language'));
  const task = state.tasks.get(id);
  if (!task) {
    sendJson(res, 404, { code: 404, message: `${NOT_FOUND[lang]}${id}` });
    return;
  }
  const data = taskView(state, task, state.clock(), lang);
  exchange.note = `${String(data.status)} ${String(data.progress)}%`;
  sendJson(res, 200, { code: 200, data });
}
