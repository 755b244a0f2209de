import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { problem, PROBLEM_CONTENT_TYPE } from './problem-details';

/** What Node's HTTP parser reports for a request it could not read, and our answer (Node's statuses). */
const ANSWERS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request headers are larger than this server accepts.' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    detail: 'The chunk extensions of the request are larger than this server accepts.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request was not received in time.' },
};
const MALFORMED = { status: 400, detail: 'The request is not valid HTTP/1.1.' };

/** The response in flight on a connection; Node's http server keeps it there (internal, stable since 0.x). */
type HttpSocket = Duplex & { _httpMessage?: ServerResponse | null };

/**
 * Answers requests that Node's HTTP parser refuses before any route sees them (headers over
 * `maxHeaderSize` → 431, a malformed request line or header → 400, a request too slow → 408)
 * with problem+json and an X-Request-Id, as every other error, instead of Node's bare status
 * line. The parser's message is not echoed (it can quote the request). As Node's own handler:
 * nothing is written when the response in flight on the connection has sent its headers, and
 * the connection is destroyed once the answer is out (the server allows half-open sockets, so
 * ending our side alone would leave it open).
 */
export function answerClientErrorsWithProblems(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: HttpSocket) => {
    if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent === true) {
      socket.destroy();
      return;
    }
    const { status, detail } = ANSWERS[error.code ?? ''] ?? MALFORMED;
    const body = JSON.stringify(problem(status, detail));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${randomUUID()}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
      () => socket.destroy(),
    );
  });
}
