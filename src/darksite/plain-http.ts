/**
 * One kept-alive HTTP/1.1 connection that streams plain GET responses through a single reused
 * read buffer: the fast path of the darksite fetch.
 *
 * Why not fetch() or node:http for the bulk: both hand every 64 KiB read to JavaScript in a freshly
 * allocated buffer (node:http copies it once more for the body), and on a fast mirror those page
 * faults, copies and collections cost three times the CPU of curl. Here the socket reads into one
 * buffer (net's `onread`), and each body chunk is a view of it, valid only during the sink's call.
 *
 * It takes only the plain case: `200` with a Content-Length, no Transfer-Encoding, no
 * Content-Encoding. Anything else (a redirect, chunked, an error status, https) is a `NotPlain`
 * error, and the caller fetches that file another way; the socket is dropped, not drained.
 */
import { connect, type Socket } from 'node:net';

/** The answer is not a plain 200 with a Content-Length (or the URL is not http:): use fetch(). */
export class NotPlain extends Error {}

/** What receives one response: its Content-Length first (throw to refuse it), then the body. */
export interface BodySink {
  length(bytes: number): void;
  /** A view of the connection's read buffer: use it (hash it, write it) before returning. */
  chunk(view: Buffer): void;
}

/** A reused connection closed or reset before any byte of the answer: the server dropped it idle. */
class Stale extends Error {}

interface Job {
  sink: BodySink;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** Header bytes so far (a copy); undefined once the body has begun. */
  head: Buffer | undefined;
  left: number;
  keepAlive: boolean;
  reused: boolean;
  seen: boolean;
}

const HEAD_MAX = 64 << 10;

export class PlainHttpConnection {
  private socket: Socket | undefined;
  private job: Job | undefined;
  private readonly buf: Buffer;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly idleMs: number;

  constructor(origin: URL, o: { idleMs?: number; bufferBytes?: number } = {}) {
    if (origin.protocol !== 'http:') throw new NotPlain(`${origin.protocol} is not plain HTTP`);
    this.host = origin.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(origin.port || 80);
    this.hostHeader = origin.host;
    this.idleMs = o.idleMs ?? 60_000;
    this.buf = Buffer.allocUnsafe(o.bufferBytes ?? 256 << 10);
  }

  /**
   * GETs `path` (absolute, already percent-encoded) into `sink`; resolves once the whole body has
   * been through it. A kept-alive socket the server closed meanwhile is replaced once, silently.
   */
  async get(path: string, sink: BodySink): Promise<void> {
    try {
      return await this.once(path, sink);
    } catch (e) {
      if (e instanceof Stale) return this.once(path, sink);
      throw e;
    }
  }

  close(): void {
    this.drop(new Error('connection closed by the client'));
  }

  private once(path: string, sink: BodySink): Promise<void> {
    if (this.job) throw new Error('PlainHttpConnection: one request at a time');
    const reused = this.socket !== undefined;
    const s = this.socket ?? this.open();
    return new Promise<void>((resolve, reject) => {
      this.job = {
        sink,
        resolve,
        reject,
        head: Buffer.alloc(0),
        left: -1,
        keepAlive: true,
        reused,
        seen: false,
      };
      s.write(
        `GET ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nUser-Agent: kldload\r\nAccept-Encoding: identity\r\n\r\n`,
      );
    });
  }

  private open(): Socket {
    const s: Socket = connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: this.buf, callback: (n: number): boolean => this.onRead(s, n) },
    });
    s.setTimeout(this.idleMs, () =>
      s.destroy(new Error(`no data from ${this.hostHeader} for ${this.idleMs / 1000} s`)),
    );
    s.on('error', (e) => this.ended(s, e));
    s.on('close', () => this.ended(s, new Error(`${this.hostHeader} closed the connection`)));
    this.socket = s;
    return s;
  }

  /** The socket failed or closed: the request on it (if any) fails with it. */
  private ended(s: Socket, e: Error): void {
    if (s !== this.socket) return;
    this.socket = undefined;
    const j = this.job;
    this.job = undefined;
    if (j) j.reject(j.reused && !j.seen ? new Stale(e.message) : e);
  }

  /** Ends the socket and fails the current request with `e`. */
  private drop(e: unknown): void {
    const s = this.socket;
    const j = this.job;
    this.socket = undefined;
    this.job = undefined;
    s?.destroy();
    j?.reject(e);
  }

  private onRead(s: Socket, n: number): boolean {
    const j = this.job;
    if (s !== this.socket) return false;
    if (!j) {
      this.drop(new Error(`${this.hostHeader} sent bytes nobody asked for`));
      return false;
    }
    j.seen = true;
    try {
      let body = this.buf.subarray(0, n);
      if (j.head) {
        const all = j.head.length ? Buffer.concat([j.head, body]) : body;
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) {
          if (all.length > HEAD_MAX) throw new Error(`${this.hostHeader}: response header over 64 KiB`);
          j.head = Buffer.from(all);
          return true;
        }
        this.begin(j, all.toString('latin1', 0, end));
        body = all.subarray(end + 4);
      }
      if (body.length > j.left) throw new Error(`${this.hostHeader} sent more than its Content-Length`);
      if (body.length) {
        j.left -= body.length;
        j.sink.chunk(body);
      }
      if (j.left === 0) {
        this.job = undefined;
        if (!j.keepAlive) {
          this.socket = undefined;
          s.destroy();
        }
        j.resolve();
      }
    } catch (e) {
      this.drop(e);
      return false;
    }
    return true;
  }

  /** Reads the status line and headers; a plain 200 sets the body length, anything else throws. */
  private begin(j: Job, head: string): void {
    const [status = '', ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})\b/.exec(status);
    const h = new Map<string, string>();
    for (const l of lines) {
      const i = l.indexOf(':');
      if (i > 0) h.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const length = h.get('content-length') ?? '';
    const encoding = (h.get('content-encoding') ?? 'identity').toLowerCase();
    if (m?.[2] !== '200' || !/^\d+$/.test(length) || h.has('transfer-encoding') || encoding !== 'identity')
      throw new NotPlain(`${this.hostHeader}: ${status || 'no status line'}`);
    const connection = (h.get('connection') ?? '').toLowerCase();
    j.keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    j.left = Number(length);
    j.head = undefined;
    j.sink.length(j.left);
  }
}
