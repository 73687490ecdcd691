/** The checks of a submission's body, with the messages the service gives (api-reference.md). */
import { SANDBOX_MODEL } from './tasks.js';

const MAX_IMAGES = 16;
const MAX_VIDEOS = 1;

function isHttpUrl(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function isVideoDataUrl(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const m = /^data:video\/[\w.+-]+;base64,/i.exec(s);
  if (!m) return false;
  const payload = s.slice(m[0].length);
  return payload.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(payload);
}

/** The first problem of the body, or undefined when it is a job the service would take. */
export function problemOf(b: Record<string, unknown>, taskExists: (id: string) => boolean): string | undefined {
  if (b.model === undefined) return `model: required, use "${SANDBOX_MODEL}"`;
  if (b.model !== SANDBOX_MODEL) return `model: unsupported model ${JSON.stringify(b.model)}, use "${SANDBOX_MODEL}"`;
  if (b.prompt !== undefined && typeof b.prompt !== 'string') return 'prompt: must be a string';
  for (const field of ['image_urls', 'video_urls'] as const) {
    const v = b[field];
    if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
      return `${field}: must be an array of strings`;
    }
  }
  const images = (b.image_urls as string[] | undefined) ?? [];
  const videos = (b.video_urls as string[] | undefined) ?? [];
  const prompt = typeof b.prompt === 'string' ? b.prompt.trim() : '';
  if (prompt === '' && images.length === 0 && videos.length === 0) {
    return 'prompt, image_urls or video_urls: at least one is required';
  }
  if (images.length > MAX_IMAGES) return `image_urls: at most ${MAX_IMAGES} images`;
  const badImage = images.findIndex((s) => !isHttpUrl(s));
  if (badImage >= 0) return `image_urls[${badImage}]: must be an http:// or https:// URL`;
  if (videos.length > MAX_VIDEOS) return `video_urls: at most ${MAX_VIDEOS} video`;
  const badVideo = videos.findIndex((s) => !isHttpUrl(s) && !isVideoDataUrl(s));
  if (badVideo >= 0) {
    return `video_urls[${badVideo}]: must be an http(s):// URL or a data:video/...;base64, URL`;
  }
  if (b.resolution !== undefined && b.resolution !== '720p') {
    return `resolution: ${JSON.stringify(b.resolution)} is not supported, only "720p"`;
  }
  if (b.extend_from_task_id !== undefined) {
    if (typeof b.extend_from_task_id !== 'string' || b.extend_from_task_id === '') {
      return 'extend_from_task_id: must be a task id';
    }
    if (!taskExists(b.extend_from_task_id)) {
      return `extend_from_task_id: task not found: ${b.extend_from_task_id}`;
    }
  }
  return undefined;
}
