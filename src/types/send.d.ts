/**
 * The part of `send` (pillarjs, the file layer of Express's serve-static) that kldload uses.
 * send ships no types; this keeps the one dependency instead of adding @types/send.
 */
declare module 'send' {
  import type { EventEmitter } from 'node:events';
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface SendOptions {
    root?: string;
    index?: false | string[];
    dotfiles?: 'allow' | 'deny' | 'ignore';
    etag?: boolean;
    lastModified?: boolean;
    cacheControl?: boolean;
    acceptRanges?: boolean;
    extensions?: false | string[];
  }

  /** What send emits as 'error': an http-errors object. */
  interface SendError extends Error {
    status?: number;
    statusCode?: number;
    headers?: Record<string, string>;
  }

  interface SendStream extends EventEmitter {
    pipe(res: ServerResponse): ServerResponse;
    on(event: 'error', listener: (err: SendError) => void): this;
    on(event: 'directory', listener: (res: ServerResponse, path: string) => void): this;
    on(
      event: 'headers',
      listener: (res: ServerResponse, path: string, stat: import('node:fs').Stats) => void,
    ): this;
  }

  function send(req: IncomingMessage, path: string, options?: SendOptions): SendStream;
  export default send;
}
