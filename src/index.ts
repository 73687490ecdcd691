/** The library: `import { OmniVideoClient } from 'omni-video'`. */
export { OmniVideoClient, DEFAULT_BASE_URL, isSafeOrigin, InsecureBaseUrlError, type ClientOptions, type RequestOptions } from './api/client.js';
export * from './api/errors.js';
import { buildBalanceSchema, buildGenerationRequestSchema, buildTaskSchema } from './api/schemas.js';

// The CLI builds these on first use (z.lazy, for start-up); a library gets the object schemas
// themselves (zod/mini), with .shape, for z.extend and the rest.
export const GenerationRequestSchema = buildGenerationRequestSchema();
export const TaskSchema = buildTaskSchema();
export const BalanceSchema = buildBalanceSchema();
export {
  MODEL,
  MAX_IMAGES,
  ASPECT_RATIOS,
  RESOLUTIONS,
  isTerminal,
  resultLinks,
  type GenerationRequest,
  type Task,
  type Balance,
} from './api/schemas.js';
export { waitForTask, nextPollDelay, type WaitOptions } from './api/polling.js';
export { defaultRetryPolicy, backoffDelay, parseRetryAfter, type RetryPolicy } from './api/retry.js';
export type { DownloadResult } from './api/download.js';
export { startSandbox, type Sandbox, type SandboxOptions, type Faults } from './sandbox/server.js';
