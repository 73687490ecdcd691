import { describe, expect, it } from 'vitest';
import { APIError, AuthenticationError, BadRequestError, InsufficientBalanceError, RateLimitError, ServiceUnavailableError, TaskNotFoundError } from '../../src/api/errors.js';
import { serviceMessage } from '../../src/api/client.js';
import { GenerationRequestSchema, isHttpUrl, isTerminal, resultLinks, SubmitResponseSchema, TaskResponseSchema } from '../../src/api/schemas.js';
import { taskToJson } from '../../src/commands/render.js';

const completed = {
  code: 200,
  data: {
    id: 'task_01KS1H7ZYSJWH1N779S2FSHTKA',
    status: 'completed',
    progress: 100,
    created: 1779246294,
    completed: 1779246334,
    actual_time: 40,
    estimated_time: 60,
    cost: 1.0,
    credits_cost: 10,
    result: { videos: [{ url: ['https://cdn.example.com/a.mp4', 'https://cdn2.example.com/a.mp4'], expires_at: 1779332760 }] },
  },
};

describe('task schema', () => {
  it('parses the documented example and keeps every link', () => {
    const task = TaskResponseSchema.parse(completed).data;
    expect(resultLinks(task)).toEqual({ urls: ['https://cdn.example.com/a.mp4', 'https://cdn2.example.com/a.mp4'], expiresAt: 1779332760 });
  });

  it('accepts url as a single string (both shapes occur)', () => {
    const task = TaskResponseSchema.parse({ data: { ...completed.data, result: { videos: [{ url: 'https://cdn.example.com/b.mp4', expires_at: 1 }] } } }).data;
    expect(resultLinks(task).urls).toEqual(['https://cdn.example.com/b.mp4']);
  });

  it('ignores unknown fields, tolerates absent cost and progress, and keeps an unknown status', () => {
    const task = TaskResponseSchema.parse({ data: { id: 't1', status: 'queued_for_review', model: 'x', region: 'us', nested: { a: 1 } } }).data;
    expect(task).toMatchObject({ id: 't1', status: 'queued_for_review', progress: 0 });
    expect(task.cost).toBeUndefined();
    expect(isTerminal(task.status)).toBe(false);
    expect(taskToJson(task)).toMatchObject({ cost: null, credits_cost: null, urls: [], expires_at: null, error: null });
  });

  it('carries the error object of a failed task', () => {
    const task = TaskResponseSchema.parse({ data: { id: 't2', status: 'failed', progress: 99, error: { message: 'policy', code: 'x' } } }).data;
    expect(taskToJson(task).error).toEqual({ message: 'policy', code: 'x' });
  });

  it('rejects a response without an id or status', () => {
    expect(TaskResponseSchema.safeParse({ data: { status: 'completed' } }).success).toBe(false);
    expect(TaskResponseSchema.safeParse({ data: { id: 'x' } }).success).toBe(false);
    expect(SubmitResponseSchema.safeParse({ code: 200, data: [] }).success).toBe(false);
  });
});

describe('generation request schema', () => {
  const base = { model: 'gemini-omni-flash-preview', aspect_ratio: '16:9', resolution: '720p' } as const;
  it('needs a prompt, an image or a video', () => {
    expect(GenerationRequestSchema.safeParse(base).success).toBe(false);
    expect(GenerationRequestSchema.safeParse({ ...base, image_urls: ['https://a/b.jpg'] }).success).toBe(true);
    expect(GenerationRequestSchema.safeParse({ ...base, video_urls: ['data:video/mp4;base64,AAAA'] }).success).toBe(true);
  });
  it('enforces the documented limits', () => {
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', image_urls: Array(17).fill('https://a/b.jpg') }).success).toBe(false);
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', image_urls: ['file:///etc/passwd'] }).success).toBe(false);
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', video_urls: ['https://a', 'https://b'] }).success).toBe(false);
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', aspect_ratio: '4:3' }).success).toBe(false);
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', resolution: '1080p' }).success).toBe(false);
  });
  it('takes as a link an http(s) URL with a host and no white space, the one rule the sandbox holds too', () => {
    for (const url of ['https://a/b.jpg', 'HTTP://example.com/cat.png?size=2', 'http://127.0.0.1:4010/x.mp4']) expect(isHttpUrl(url), url).toBe(true);
    for (const url of ['http://:80/a.jpg', 'https://[bad/a.jpg', 'https://e.com/a b.jpg', ' https://e.com/a.jpg', 'ftp://e.com/a.jpg', '/home/me/cat.jpg', 'https://']) {
      expect(isHttpUrl(url), url).toBe(false);
    }
    expect(GenerationRequestSchema.safeParse({ ...base, prompt: 'x', image_urls: ['http://:80/a.jpg'] }).success).toBe(false);
  });
});

describe('errors from responses', () => {
  const details = (status: number, body: string) => ({ status, endpoint: 'GET /tasks/{id}', serviceMessage: serviceMessage(body), body });
  it('picks the class by HTTP status', () => {
    expect(APIError.fromResponse(details(400, ''))).toBeInstanceOf(BadRequestError);
    expect(APIError.fromResponse(details(401, ''))).toBeInstanceOf(AuthenticationError);
    expect(APIError.fromResponse(details(402, ''))).toBeInstanceOf(InsufficientBalanceError);
    expect(APIError.fromResponse(details(403, ''))).toBeInstanceOf(InsufficientBalanceError);
    expect(APIError.fromResponse(details(404, ''))).toBeInstanceOf(TaskNotFoundError);
    expect(APIError.fromResponse(details(429, ''))).toBeInstanceOf(RateLimitError);
    expect(APIError.fromResponse(details(502, ''))).toBeInstanceOf(ServiceUnavailableError);
  });
  it('finds the service message in each documented shape, and never shows HTML', () => {
    expect(serviceMessage('{"error":{"message":"bad field","type":"invalid_request_error"}}')).toBe('bad field');
    expect(serviceMessage('{"code":401,"message":"invalid key"}')).toBe('invalid key');
    expect(serviceMessage('{"success":false,"message":"no quota"}')).toBe('no quota');
    expect(serviceMessage('<html><body><h1>502 Bad Gateway</h1></body></html>')).toBeUndefined();
    expect(serviceMessage('')).toBeUndefined();
    expect(APIError.fromResponse(details(404, '{"code":404,"message":"task not found: t"}')).message).toBe(
      'No such task (HTTP 404 from GET /tasks/{id}): task not found: t',
    );
  });
});
