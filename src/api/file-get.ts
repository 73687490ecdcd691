import net from 'node:net';
import tls from 'node:tls';
import { HttpProtocolError, redirectTarget, SocketTimeoutError } from './transport.js';

/**
 * One HTTP/1.1 GET of a file, over a socket of its own, for downloads. Written for speed: the
 * socket reads into one reused buffer (Node's `onread`) and the body is handed over from it, so
 * a transfer allocates nothing per chunk and skips Node's HTTP parser, which copies every body
 * chunk into a new Buffer. Measured on 1 GiB: a bare read loop like this one took ~0.2 s of user
 * CPU where a node:http GET took ~1.1 s; the CLI's whole download ~0.35 s where got's took ~1.5 s
 * (README, Performance). No keep-alive (one file, one connection), no Authorization (signed file
 * links carry none), identity encoding only.
 */

/**
 * Bytes read from the socket at most at once (TLS reads come a record at a time anyway). 1 MiB
 * was no faster on a 1 GiB download (0.942 vs 0.935 of curl, one bench run each).
 */
const READ_BUFFER_BYTES = 256 * 1024;
/** A response head larger than this is not a file server's. */
const MAX_HEAD_BYTES = 64 * 1024;

export interface FileGetOptions {
  headers?: Record<string, string>;
  /** The http: or https: proxy to tunnel through with CONNECT to this URL (asked again after a redirect), if any. */
  proxyFor?: ((url: string) => string | undefined) | undefined;
  signal?: AbortSignal | undefined;
  /** For the name lookup, the TCP connection and the TLS handshake together. */
  connectTimeoutMs?: number;
  /** A connection that delivers no byte for this long is dropped (not a limit on the whole transfer). */
  idleTimeoutMs?: number;
}

export interface BodyEnd {
  /** Why the body stopped short (a cut, a stall, a malformed encoding), if it did. */
  sourceError?: Error;
}

export interface FileResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Where the answer came from, after redirects. */
  url: string;
  /**
   * Hands over the body as it arrives, until it ends or the connection does; each piece is valid
   * only during the call. A throw from `onBytes` drops the connection and rejects.
   */
  readBody(onBytes: (bytes: Uint8Array) => void): Promise<BodyEnd>;
  /** Drops the connection, body unread. */
  discard(): void;
}

/** GETs `url`, following up to 10 redirects; resolves once the response head has arrived. */
export async function getFile(url: string, options: FileGetOptions = {}): Promise<FileResponse> {
  let target = new URL(url);
  for (let redirects = 0; ; redirects++) {
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new HttpProtocolError(`cannot download from a ${target.protocol} URL`);
    const response = await new Exchange(target, options).response;
    let next: URL | undefined;
    try {
      next = redirectTarget(response.status, response.headers.location, target, redirects);
    } catch (error) {
      response.discard();
      throw error;
    }
    if (next === undefined) return response;
    response.discard();
    target = next;
  }
}

type Framing = { kind: 'length'; remaining: number } | { kind: 'chunked'; decoder: ChunkedDecoder } | { kind: 'close' };

/** What the reader's onBytes threw: it fails the read, where a socket's error only cuts it short. */
class ReaderFailure {
  constructor(readonly error: unknown) {}
}

/** One request and its response on one connection. */
class Exchange {
  readonly response: Promise<FileResponse>;
  #socket: net.Socket | undefined;
  #state: 'head' | 'body' | 'done' = 'head';
  #head = Buffer.alloc(0);
  #framing: Framing = { kind: 'close' };
  /** Body bytes that arrived before anyone read the body (with the head, mostly). */
  #early: Buffer | undefined;
  /** How the body ends if the connection went away before anyone read it, unless #early completes it. */
  #lost: BodyEnd | undefined;
  #onBytes: ((bytes: Uint8Array) => void) | undefined;
  #headSettled!: { resolve: (response: FileResponse) => void; reject: (error: unknown) => void };
  #bodySettled: { resolve: (end: BodyEnd) => void; reject: (error: unknown) => void } | undefined;
  #bodyEnd: BodyEnd = {};
  readonly #onAbort = () => this.#fail(this.options.signal?.reason);

  constructor(
    readonly target: URL,
    readonly options: FileGetOptions,
  ) {
    this.response = new Promise((resolve, reject) => (this.#headSettled = { resolve, reject }));
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#start().catch((error: unknown) => this.#fail(error));
  }

  async #start(): Promise<void> {
    if (this.options.signal?.aborted) throw this.options.signal.reason;
    const request = this.#requestHead();
    const socket = await this.#connect();
    socket.setTimeout(this.options.idleTimeoutMs ?? 30_000, () => socket.destroy(new SocketTimeoutError('idle')));
    socket.write(request);
  }

  /** From its creation on, so that no error of the socket's goes unheard. */
  #adopt<S extends net.Socket>(socket: S): S {
    this.#socket = socket;
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#closed());
    // The server has said all it will: no half-open socket left behind.
    socket.on('end', () => socket.destroy());
    if (this.#state === 'done') socket.destroy();
    return socket;
  }

  #requestHead(): string {
    const { target } = this;
    const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`, 'accept-encoding: identity', 'connection: close'];
    for (const [name, value] of Object.entries(this.options.headers ?? {})) {
      if (/[\r\n]/.test(name + value)) throw new HttpProtocolError(`header ${name} holds a line break`);
      lines.push(`${name}: ${value}`);
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  /** A connected socket whose reads land in #read, through the proxy's tunnel if there is one. */
  async #connect(): Promise<net.Socket> {
    const { target, options } = this;
    const secure = target.protocol === 'https:';
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const port = Number(target.port || (secure ? 443 : 80));
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    // Returning false pauses the socket: nobody reads the body yet.
    const onread = { buffer, callback: (length: number) => this.#read(buffer.subarray(0, length)) };
    const timeoutMs = options.connectTimeoutMs ?? 15_000;
    const tlsOptions = { servername: net.isIP(host) ? '' : host, ALPNProtocols: ['http/1.1'] };
    const proxy = options.proxyFor?.(target.href);
    if (proxy === undefined) {
      const socket = this.#adopt(secure ? tls.connect(withOnRead({ host, port, ...tlsOptions }, onread)) : net.connect({ host, port, onread }));
      return connected(socket, secure ? 'secureConnect' : 'connect', timeoutMs, options.signal);
    }
    const tunnel = this.#adopt(await openTunnel(new URL(proxy), `${target.hostname}:${port}`, timeoutMs, options.signal));
    // `host` too: over a tunnel Node would check the certificate against the proxy's name.
    const socket = secure ? await connected(this.#adopt(tls.connect({ socket: tunnel, host, ...tlsOptions })), 'secureConnect', timeoutMs, options.signal) : tunnel;
    // A socket made over an established one takes no onread (tls ignores it): reads arrive as chunks.
    socket.on('data', (chunk: Buffer) => {
      if (!this.#read(chunk)) socket.pause();
    });
    return socket;
  }

  /** Takes what one socket read brought; false when nobody reads the body yet. */
  #read(bytes: Buffer): boolean {
    try {
      if (this.#state === 'head') this.#readHead(bytes);
      else if (this.#state === 'body') this.#readBody(bytes);
    } catch (error) {
      if (error instanceof ReaderFailure) this.#readerFailed(error.error);
      else this.#fail(error);
    }
    return this.#state !== 'body' || this.#onBytes !== undefined;
  }

  #readHead(bytes: Buffer): void {
    this.#head = this.#head.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.#head, bytes]);
    for (;;) {
      const end = this.#head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#head.length > MAX_HEAD_BYTES) throw new HttpProtocolError('the response head is too large');
        return;
      }
      const { status, headers } = parseHead(this.#head.toString('latin1', 0, end));
      const rest = this.#head.subarray(end + 4);
      // 1xx answers (103 Early Hints from a CDN) come before the real one.
      if (status >= 100 && status < 200) {
        this.#head = rest;
        continue;
      }
      this.#head = Buffer.alloc(0);
      this.#framing = framingOf(headers);
      this.#state = 'body';
      if (rest.length > 0) this.#early = rest;
      if (this.#framing.kind === 'length' && this.#framing.remaining === 0) this.#finish({});
      this.#headSettled.resolve({
        status,
        headers,
        url: this.target.href,
        readBody: (onBytes) => this.#attach(onBytes),
        discard: () => this.#finish({}),
      });
      return;
    }
  }

  #attach(onBytes: (bytes: Uint8Array) => void): Promise<BodyEnd> {
    if (this.#bodySettled !== undefined) throw new Error('the body is read once');
    let settled!: { resolve: (end: BodyEnd) => void; reject: (error: unknown) => void };
    const ended = new Promise<BodyEnd>((resolve, reject) => (settled = { resolve, reject }));
    this.#bodySettled = settled;
    this.#onBytes = onBytes;
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined && this.#state === 'body') this.#read(early);
    if (this.#state === 'body' && this.#lost !== undefined) this.#finish(this.#lost);
    if (this.#state === 'done') settled.resolve(this.#bodyEnd);
    else this.#socket?.resume();
    return ended;
  }

  #readBody(bytes: Buffer): void {
    if (this.#onBytes === undefined) {
      this.#early = this.#early === undefined ? Buffer.from(bytes) : Buffer.concat([this.#early, bytes]);
      return;
    }
    const framing = this.#framing;
    if (framing.kind === 'close') {
      this.#deliver(bytes);
    } else if (framing.kind === 'length') {
      const piece = bytes.length > framing.remaining ? bytes.subarray(0, framing.remaining) : bytes;
      framing.remaining -= piece.length;
      this.#deliver(piece);
      if (framing.remaining === 0) this.#finish({});
    } else if (framing.decoder.feed(bytes, (piece) => this.#deliver(piece))) {
      this.#finish({});
    }
  }

  #deliver(bytes: Uint8Array): void {
    try {
      this.#onBytes?.(bytes);
    } catch (error) {
      throw new ReaderFailure(error);
    }
  }

  /** The connection went away: the end of a close-delimited body, else a cut. */
  #closed(): void {
    if (this.#state === 'head') this.#fail(new HttpProtocolError('the server closed the connection without an answer'));
    else if (this.#state === 'body') this.#cut(this.#framing.kind === 'close' ? {} : { sourceError: new Error('the connection closed early') });
  }

  #fail(error: unknown): void {
    if (this.#state === 'head') {
      this.#state = 'done';
      this.#release();
      this.#headSettled.reject(error);
    } else if (this.#state === 'body') {
      this.#cut({ sourceError: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  /** Before anyone reads, held bytes may still complete the body: judged when they are handed over. */
  #cut(end: BodyEnd): void {
    if (this.#onBytes === undefined && this.#early !== undefined) {
      this.#lost ??= end;
      this.#socket?.destroy();
    } else {
      this.#finish(end);
    }
  }

  #readerFailed(error: unknown): void {
    this.#state = 'done';
    this.#release();
    this.#bodySettled?.reject(error);
  }

  #finish(end: BodyEnd): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#bodyEnd = end;
    this.#release();
    this.#bodySettled?.resolve(end);
  }

  #release(): void {
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    this.#socket?.destroy();
  }
}

/** tls.connect takes onread too (Node >= 14.17), which @types/node does not declare. */
function withOnRead(options: tls.ConnectionOptions, onread: net.OnReadOpts): tls.ConnectionOptions {
  return { ...options, onread } as tls.ConnectionOptions;
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!match) throw new HttpProtocolError(`not an HTTP/1.1 answer: ${JSON.stringify(statusLine.slice(0, 40))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(match[1]), headers };
}

function framingOf(headers: Record<string, string>): Framing {
  if (/(^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] ?? '')) return { kind: 'chunked', decoder: new ChunkedDecoder() };
  const length = headers['content-length'];
  if (length === undefined) return { kind: 'close' };
  if (!/^\d+$/.test(length)) throw new HttpProtocolError(`invalid Content-Length: ${length}`);
  return { kind: 'length', remaining: Number(length) };
}

/** Transfer-Encoding: chunked, fed any split of the stream; hands over the data, drops the framing. */
export class ChunkedDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  #line = '';
  #remaining = 0;

  /** True once the last chunk and the trailer have been read. */
  feed(bytes: Uint8Array, onBytes: (bytes: Uint8Array) => void): boolean {
    let at = 0;
    while (at < bytes.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        const take = Math.min(this.#remaining, bytes.length - at);
        onBytes(bytes.subarray(at, at + take));
        at += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 'data-end';
        continue;
      }
      const newline = bytes.indexOf(0x0a, at);
      const end = newline < 0 ? bytes.length : newline;
      this.#line += Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
      at = newline < 0 ? bytes.length : newline + 1;
      if (this.#line.length > 4096) throw new HttpProtocolError('a chunk size line is too long');
      if (newline < 0) break;
      const line = this.#line.replace(/\r$/, '');
      this.#line = '';
      this.#lineEnded(line);
    }
    return this.#state === 'done';
  }

  #lineEnded(line: string): void {
    if (this.#state === 'data-end') {
      if (line !== '') throw new HttpProtocolError('a chunk is longer than its size');
      this.#state = 'size';
    } else if (this.#state === 'size') {
      const size = /^([0-9a-f]{1,12})\s*(?:;.*)?$/i.exec(line);
      if (!size) throw new HttpProtocolError(`invalid chunk size: ${JSON.stringify(line.slice(0, 20))}`);
      this.#remaining = Number.parseInt(size[1] as string, 16);
      this.#state = this.#remaining === 0 ? 'trailer' : 'data';
    } else if (line === '') {
      this.#state = 'done';
    }
  }
}

/**
 * Resolves with the socket once `watch` calls `done()`; the connect timeout, the caller's abort,
 * an error and an unexpected close settle it too (destroying the socket), and every listener goes
 * when it settles. `watch` returns how to remove its own.
 */
function waitOnSocket(
  socket: net.Socket,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  closedMessage: string,
  watch: (done: (error?: unknown) => void) => () => void,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let unwatch = () => {};
    const timer = setTimeout(() => done(new SocketTimeoutError('connect')), timeoutMs);
    const onAbort = () => done(signal?.reason);
    // Destroyed by someone else (an abort seen by the caller first): settle, and stop the timer.
    const onClose = () => done(signal?.reason ?? new HttpProtocolError(closedMessage));
    const done = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', done);
      socket.removeListener('close', onClose);
      unwatch();
      if (error === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(error);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', done);
    socket.once('close', onClose);
    unwatch = watch(done);
  });
}

/** Resolves with the socket once `event` (connect or secureConnect) fires; the timer covers DNS too. */
function connected(socket: net.Socket, event: 'connect' | 'secureConnect', timeoutMs: number, signal: AbortSignal | undefined): Promise<net.Socket> {
  return waitOnSocket(socket, timeoutMs, signal, 'the connection closed before it was established', (done) => {
    const ready = () => done();
    socket.once(event, ready);
    return () => socket.removeListener(event, ready);
  });
}

/** A CONNECT tunnel to `authority` through the proxy, as hpagent makes for every target. */
async function openTunnel(proxy: URL, authority: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<net.Socket> {
  const secure = proxy.protocol === 'https:';
  const host = proxy.hostname.replace(/^\[|\]$/g, '');
  const port = Number(proxy.port || (secure ? 443 : 80));
  const socket = await connected(
    secure ? tls.connect({ host, port, servername: net.isIP(host) ? '' : host }) : net.connect({ host, port }),
    secure ? 'secureConnect' : 'connect',
    timeoutMs,
    signal,
  );
  const lines = [`CONNECT ${authority} HTTP/1.1`, `host: ${authority}`];
  if (proxy.username || proxy.password) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    lines.push(`proxy-authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  // Not paused once through: a paused socket stalls the TLS handshake over it. Nothing can arrive
  // meanwhile, as the server speaks only once the request (or the ClientHello) is sent.
  return waitOnSocket(socket, timeoutMs, signal, 'the proxy closed the connection', (done) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) done(new HttpProtocolError("the proxy's answer is too large"));
        return;
      }
      try {
        const { status } = parseHead(head.toString('latin1', 0, end));
        done(status >= 200 && status < 300 ? undefined : new HttpProtocolError(`the proxy answered HTTP ${status} to CONNECT ${authority}`));
      } catch (error) {
        done(error);
      }
    };
    socket.on('data', onData);
    return () => socket.removeListener('data', onData);
  });
}
